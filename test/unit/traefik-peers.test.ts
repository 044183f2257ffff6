// The "looks like Traefik" heuristic behind the warning that a route may not be served, and the
// words of that warning: pure functions, no Engine.
import { describe, expect, it } from "vitest";
import { routingWarnings } from "../../agent/deploy/routing.js";
import { looksLikeTraefik } from "../../agent/docker/traefik-peers.js";

describe("looks like Traefik", () => {
  it.each([
    ["the official image by name", { image: "traefik:v3", repoTags: [], command: "/entrypoint.sh traefik --providers.docker" }],
    ["an image name in any case, under any registry", { image: "ghcr.io/acme/My-Traefik:2", repoTags: [], command: "/run" }],
    ["an image whose tag names Traefik though the container shows its id", { image: "sha256:0123abcd", repoTags: ["library/traefik:v3.1"], command: "/run" }],
    ["a command that runs traefik by path", { image: "acme/edge:1", repoTags: ["acme/edge:1"], command: "/usr/local/bin/traefik --configFile=/etc/t.yml" }],
    ["a command that runs Traefik in another case", { image: "acme/edge:1", repoTags: [], command: "TRAEFIK" }],
  ])("counts %s", (_what, facts) => {
    expect(looksLikeTraefik(facts)).toBe(true);
  });

  it.each([
    ["an app container", { image: "ghcr.io/acme/web:v1", repoTags: ["ghcr.io/acme/web:v1"], command: "/bin/web --port 8000" }],
    ["a command that only mentions traefik in an argument", { image: "acme/tool:1", repoTags: [], command: "/bin/tool --upstream=traefik.local" }],
    ["a container with no command", { image: "nginx:1", repoTags: [], command: "" }],
  ])("does not count %s", (_what, facts) => {
    expect(looksLikeTraefik(facts)).toBe(false);
  });
});

describe("routing warnings", () => {
  const base = { network: "web", networkExists: true, traefik: ["traefik"], confirmed: true, settleMs: 3000 };

  it("says nothing when a Traefik is on the network and traefik.api is set", () => {
    expect(routingWarnings(base)).toEqual([]);
  });

  it("says the route is not served when no container on the network looks like Traefik", () => {
    expect(routingWarnings({ ...base, traefik: [] })).toEqual([
      "no Traefik on network web: the route is not served, the app is reachable only by container IP (start Traefik: examples/traefik)",
    ]);
  });

  it("says Traefik is not on the network yet when the network does not exist, pointing at the example", () => {
    expect(routingWarnings({ ...base, networkExists: false, traefik: [] })).toEqual([
      "Traefik is not on network web yet (the agent creates the network at the first deploy): the route is not served; start Traefik with the example in examples/traefik",
    ]);
  });

  it("says the network is unknown, with the Engine's reason, and never 'no Traefik' when the look failed", () => {
    const failed = { network: "web", lookError: "Docker Engine at /var/run/docker.sock did not answer list of networks named web within 2s", confirmed: false, settleMs: 3000 };
    expect(routingWarnings(failed)).toEqual([
      "could not look for Traefik on network web, so whether the route is served is unknown (Docker Engine at /var/run/docker.sock did not answer list of networks named web within 2s); each agentctl status looks again",
      "traefik.api is not set: switches are not confirmed, the agent waits settle (3s)",
    ]);
  });

  it("says switches are not confirmed and names the settle wait when traefik.api is not set", () => {
    expect(routingWarnings({ ...base, confirmed: false, settleMs: 1500 })).toEqual([
      "traefik.api is not set: switches are not confirmed, the agent waits settle (1.5s)",
    ]);
  });
});
