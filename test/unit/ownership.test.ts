import { describe, expect, it } from "vitest";
import { foreignReason, foreignServiceReason, isOwn, isOwnService, ownerLabels } from "../../agent/docker/ownership.js";
import { AGENT_LABELS, isKeepTag, keepTag, refusedImageLabels } from "../../agent/labels.js";

const me = { agentId: "a".repeat(32), recordedDeploy: (app: string, id: string, digest: string) => app === "web" && id === "7" && digest === "sha256:77" };
const legacy = { [AGENT_LABELS.managed]: "true", [AGENT_LABELS.app]: "web", [AGENT_LABELS.deployId]: "7", [AGENT_LABELS.digest]: "sha256:77" };

describe("which containers are the agent's", () => {
  it("owns a container with its managed, app and owner labels", () => {
    expect(isOwn(ownerLabels("web", me), "web", me)).toBe(true);
  });

  it("does not own another agent's container of the same app", () => {
    const other = { ...ownerLabels("web", me), [AGENT_LABELS.owner]: "b".repeat(32) };
    expect(isOwn(other, "web", me)).toBe(false);
    expect(foreignReason(other, "web")).toBe("created by another deploy-agent (another state file)");
  });

  it("does not own its container of another app", () => {
    expect(isOwn(ownerLabels("api", me), "web", me)).toBe(false);
  });

  it("does not own an unlabelled container or one that only names the app", () => {
    expect(isOwn({}, "web", me)).toBe(false);
    expect(isOwn({ [AGENT_LABELS.app]: "web", [AGENT_LABELS.owner]: me.agentId }, "web", me)).toBe(false);
    expect(foreignReason({}, "web")).toBe("not created by deploy-agent");
  });

  it("adopts a container without an owner label only when its deploy and digest are in the state file", () => {
    expect(isOwn(legacy, "web", me)).toBe(true);
    expect(isOwn({ ...legacy, [AGENT_LABELS.deployId]: "8" }, "web", me)).toBe(false);
    expect(isOwn({ ...legacy, [AGENT_LABELS.digest]: "sha256:88" }, "web", me)).toBe(false);
    expect(foreignReason({ ...legacy, [AGENT_LABELS.deployId]: "8" }, "web")).toBe("created by deploy-agent for a deploy this agent's state file does not record");
  });

  it("never adopts a probe without an owner label", () => {
    expect(isOwn({ ...legacy, [AGENT_LABELS.role]: "probe" }, "web", me)).toBe(false);
  });
});

describe("labels an image may not carry", () => {
  it("refuses traefik and deploy-agent keys in any case, and nothing else", () => {
    const labels = {
      "Traefik.http.routers.x.rule": "Host(`bank.example`)",
      "TRAEFIK.enable": "true",
      "traefik.http.routers.x.priority": "999999999",
      "deploy-agent.role": "probe",
      "Deploy-Agent.owner": "x",
      "org.opencontainers.image.title": "web",
      "maintainer": "someone",
      "traefikish": "no dot, not Traefik's",
    };
    expect(refusedImageLabels(labels)).toEqual(["Deploy-Agent.owner", "TRAEFIK.enable", "Traefik.http.routers.x.rule", "deploy-agent.role", "traefik.http.routers.x.priority"]);
    expect(refusedImageLabels(null)).toEqual([]);
  });
});

describe("keep-tags", () => {
  it("recognises only the tags it builds for the app", () => {
    expect(keepTag("web", 12)).toBe("deploy-agent/web:gen-12");
    expect(isKeepTag("web", keepTag("web", 12))).toBe(true);
    expect(isKeepTag("web", keepTag("api", 12))).toBe(false);
    expect(isKeepTag("web", "deploy-agent/web:latest")).toBe(false);
    expect(isKeepTag("web", "deploy-agent/web:gen-1x")).toBe(false);
    expect(isKeepTag("web", "registry.example/web:gen-12")).toBe(false);
  });
});

describe("which Swarm services are the agent's", () => {
  it("owns a service with its managed and owner labels, of any app", () => {
    expect(isOwnService(ownerLabels("web", me), me)).toBe(true);
    expect(isOwnService(ownerLabels("api", me), me)).toBe(true);
  });

  it("owns no service without its owner label, even one whose deploy the state file records", () => {
    expect(isOwnService(legacy, me)).toBe(false);
    expect(foreignServiceReason(legacy)).toBe("created by deploy-agent without an owner label");
    expect(isOwnService({}, me)).toBe(false);
    expect(foreignServiceReason({})).toBe("not created by deploy-agent");
    const other = { ...ownerLabels("web", me), [AGENT_LABELS.owner]: "b".repeat(32) };
    expect(isOwnService(other, me)).toBe(false);
    expect(foreignServiceReason(other)).toBe("created by another deploy-agent (another state file)");
  });
});
