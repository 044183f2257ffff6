// `roles:` in agent.yaml: a role's keys, the names it may not take, and container names that would collide.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { slotNameCollisions } from "../../agent/config/roles.js";
import { configProblems } from "../support/config-text.js";


const app = (name: string, extra = "") => `
  ${name}:
    image: ghcr.io/acme/shop
    port: 8000
    health: { path: /health }
    env: { DB: postgres, QUEUE: main }${extra}`;

describe("roles in agent.yaml", () => {
  it("reads a role with its command, health, env and overlap, and fills in the defaults", () => {
    const c = parseConfig(
      `apps:${app(
        "shop",
        `
    roles:
      worker:
        command: ["bin/jobs"]
        health: { command: "test -f /tmp/worker-alive", startTimeout: 20s }
        env: { QUEUE: default, THREADS: 4 }
      scheduler:
        overlap: false`,
      )}`,
    );
    expect(c.apps.shop!.roles).toEqual({
      worker: { command: ["bin/jobs"], health: { command: "test -f /tmp/worker-alive", startTimeout: 20_000, interval: 1_000 }, env: { QUEUE: "default", THREADS: "4" }, overlap: true },
      scheduler: { env: {}, overlap: false },
    });
  });

  it("has no roles when the key is left out", () => {
    expect(parseConfig(`apps:${app("shop")}`).apps.shop!.roles).toEqual({});
  });

  it.each(["web", "probe", "predeploy", "postdeploy", "blue", "green"])("refuses the reserved role name %s and says which names are reserved", (name) => {
    const msg = configProblems(`apps:${app("shop", `\n    roles: { ${name}: {} }`)}`);
    expect(msg).toContain(`apps.shop.roles.${name}`);
    expect(msg).toContain(`role name "${name}" is reserved`);
  });

  it("refuses a role name that is not DNS-like", () => {
    expect(configProblems(`apps:${app("shop", "\n    roles: { Worker_1: {} }")}`)).toContain("role names use lowercase letters, digits and -");
  });

  it("refuses unknown keys in a role, an empty command and a bad variable name", () => {
    expect(configProblems(`apps:${app("shop", "\n    roles: { worker: { route: {} } }")}`)).toMatch(/apps\.shop\.roles\.worker.*route/);
    expect(configProblems(`apps:${app("shop", "\n    roles: { worker: { command: [] } }")}`)).toContain("apps.shop.roles.worker.command: must list the program and its arguments");
    expect(configProblems(`apps:${app("shop", '\n    roles: { worker: { env: { "1X": a } } }')}`)).toContain('"1X" is not a valid variable name');
  });

  it("refuses a role health interval not shorter than its startTimeout", () => {
    expect(configProblems(`apps:${app("shop", '\n    roles: { worker: { health: { command: "true", startTimeout: 2s, interval: 2s } } }')}`)).toContain(
      "apps.shop.roles.worker.health.interval: 2s must be shorter than startTimeout (2s)",
    );
  });

  it("refuses an app whose role container would take another app's slot name, naming both", () => {
    const msg = configProblems(`apps:${app("web", "\n    roles: { worker: {} }")}${app("web-worker")}`);
    expect(msg).toContain('role "worker" of app "web" and app "web-worker" would both be named web-worker-blue');
  });

  it("refuses two apps' roles that would share container names", () => {
    const found = slotNameCollisions({ a: { roles: { "b-c": {} } }, "a-b": { roles: { c: {} } } });
    expect(found).toEqual([{ path: ["a-b", "roles", "c"], message: 'role "c" of app "a-b" and role "b-c" of app "a" would both be named a-b-c-blue; rename the app or the role' }]);
  });

  it("accepts apps and roles whose names do not collide", () => {
    expect(slotNameCollisions({ web: { roles: { worker: {} } }, api: { roles: { worker: {} } }, "web-jobs": {} })).toEqual([]);
  });
});
