// `backend: swarm` in agent.yaml (docs/design.md#swarm-services): the keys only a Swarm service has
// (`replicas`, `placement` and its constraints), and the rules that read what a person wrote, not
// the defaults: a Swarm key on a container app, a key that means nothing for a Swarm service.
import { isIP } from "node:net";
import { z } from "zod";
import { serviceName } from "../labels.js";
import type { ConfigProblem } from "./files.js";
import { asTree, type Tree } from "./tree.js";
import { parseVolume } from "./volumes.js";

export const BACKENDS = ["container", "swarm"] as const;
export type Backend = (typeof BACKENDS)[number];

export const Backend = z
  .enum(BACKENDS, { error: 'expected "container" (blue and green containers on this host) or "swarm" (a Swarm service)' })
  .default("container");

export const Replicas = z
  .number({ error: "expected a number of tasks, 1 to 100" })
  .int("must be a whole number of tasks, 1 to 100")
  .min(1, "must be at least 1 task")
  .max(100, "must be at most 100 tasks")
  .default(1);

export interface PlacementConstraint {
  attribute: string;
  operator: "==" | "!=";
  value: string;
}

/**
 * Swarm's own syntax (swarmkit manager/constraint/constraint.go `Parse`): the first `==`, else the
 * first `!=`, splits the text; key and value are trimmed and must match these.
 */
const KEY_RE = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_RE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;
/** The attributes Swarm matches (`NodeMatches`); a constraint on any other matches no node, so the service would never run. */
const ATTRIBUTES = ["node.id", "node.hostname", "node.ip", "node.role", "node.platform.os", "node.platform.arch"];
const LABEL_PREFIXES = ["node.labels.", "engine.labels."];
const EXAMPLE = '"node.role == worker"';

/** A placement constraint, or why Swarm would refuse it or never place the service with it. */
export function parseConstraint(text: string): PlacementConstraint | { problem: string } {
  const operator = text.includes("==") ? "==" : text.includes("!=") ? "!=" : undefined;
  if (operator === undefined) return { problem: `expected "<attribute> == <value>" or "<attribute> != <value>", such as ${EXAMPLE}` };
  const at = text.indexOf(operator);
  const attribute = text.slice(0, at).trim();
  const value = text.slice(at + 2).trim();
  if (!KEY_RE.test(attribute) || !knownAttribute(attribute)) {
    return {
      problem: `unknown attribute "${attribute}": Swarm places by ${ATTRIBUTES.join(", ")}, node.labels.<label> and engine.labels.<label> (on any other a service runs nowhere)`,
    };
  }
  if (!VALUE_RE.test(value)) return { problem: `Swarm refuses the value "${value}": letters, digits, spaces and : - _ . * ( ) ? + [ ] \\ ^ $ | / only` };
  const a = attribute.toLowerCase();
  if (a === "node.role" && !["manager", "worker"].includes(value.toLowerCase())) return { problem: `node.role is "manager" or "worker", not "${value}"` };
  if (a === "node.ip" && !isIpOrNetwork(value)) return { problem: `node.ip takes an address or a network such as 10.0.0.0/24, not "${value}"` };
  return { attribute, operator, value };
}

function knownAttribute(attribute: string): boolean {
  const a = attribute.toLowerCase();
  return ATTRIBUTES.includes(a) || LABEL_PREFIXES.some((p) => a.startsWith(p) && a.length > p.length);
}

function isIpOrNetwork(value: string): boolean {
  const [address = "", bits, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** `placement`: Swarm constraints, each checked here, since Swarm itself would only leave the service pending. */
export const Placement = z
  .array(z.string({ error: `expected a constraint such as ${EXAMPLE}` }), { error: `expected a list of constraints such as [${EXAMPLE}]` })
  .superRefine((list, ctx) => {
    list.forEach((text, i) => {
      const c = parseConstraint(text);
      if ("problem" in c) ctx.addIssue({ code: "custom", path: [i], message: `"${text}": ${c.problem}` });
    });
  })
  .default([]);

/** True when the constraints hold the service to one node: `node.id ==`, `node.hostname ==` or `node.ip ==` one address. */
export function pinsOneNode(placement: readonly unknown[]): boolean {
  return placement.some((text) => {
    const c = typeof text === "string" ? parseConstraint(text) : undefined;
    if (c === undefined || "problem" in c || c.operator !== "==") return false;
    const a = c.attribute.toLowerCase();
    return a === "node.id" || a === "node.hostname" || (a === "node.ip" && !c.value.includes("/"));
  });
}

/**
 * The keys of an app that mean nothing for a Swarm service, and why. Each has a default, so only
 * the YAML as written shows that a person set one.
 */
export const NOT_FOR_SWARM: Readonly<Record<string, string>> = {
  restart: "Swarm restarts a service's tasks itself",
  watch: "Swarm watches each new task for the update's monitor period and rolls the service back by itself; no stopped release is kept to go back to",
  drain: "Swarm takes a task out of the service's virtual IP before it stops it, and stopTimeout is the time it then gives its requests",
  settle: "Traefik sends to the service's virtual IP, which Swarm points at healthy tasks itself: there is no switch in Traefik to wait for",
  keep: "each node pulls the release it runs from the registry by digest, so images kept on this host do not reach the others",
  "health.successes": "Swarm judges a task by its Docker health check alone; the agent's own probe, which this counts, cannot reach a task on an overlay network",
};

/** Keys only a Swarm service has. */
const SWARM_ONLY = ["replicas", "placement"];

/** Swarm's rule for a service name (swarmkit manager/controlapi/common.go `validateAnnotations`): a DNS label. */
const SERVICE_NAME_RE = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

/**
 * What `backend` forbids in each app, read from the YAML as written: Swarm's keys on a container
 * app, and on a Swarm app the keys above, bind mounts that only one node has, mount options a
 * service cannot take, and names Swarm refuses for a service.
 */
export function backendProblems(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [app, entry] of Object.entries(asTree(asTree(raw)?.apps) ?? {})) {
    const cfg = asTree(entry);
    if (cfg === undefined) continue;
    const problem = (path: (string | number)[], message: string) => problems.push({ path: ["apps", app, ...path], message, severity: "error" });
    const backend = cfg.backend ?? "container";
    if (backend === "container") {
      for (const key of SWARM_ONLY.filter((k) => k in cfg)) problem([key], `needs backend: swarm (a container app runs one container per slot); set backend: swarm, or leave ${key} out`);
    }
    if (backend !== "swarm") continue;
    for (const [key, why] of Object.entries(NOT_FOR_SWARM)) {
      const path = key.split(".");
      if (written(cfg, path)) problem(path, `means nothing with backend: swarm (${why}); leave it out`);
    }
    const volumes = Array.isArray(cfg.volumes) ? cfg.volumes : [];
    const pinned = pinsOneNode(Array.isArray(cfg.placement) ? cfg.placement : []);
    volumes.forEach((spec, i) => {
      const why = typeof spec === "string" ? swarmVolumeProblem(spec, pinned) : undefined;
      if (why !== undefined) problem(["volumes", i], why);
    });
    const roles = Object.keys(asTree(cfg.roles) ?? {});
    const services: [string[], string][] = [[[], serviceName(app)], ...roles.map((r): [string[], string] => [["roles", r], serviceName(app, r)])];
    for (const [path, name] of services) {
      if (!SERVICE_NAME_RE.test(name) || name.length > 63) {
        problem(path, `with backend: swarm this names the Swarm service "${name}", and Swarm takes at most 63 letters, digits, - and _, ending with a letter or digit; rename it`);
      }
    }
  }
  return problems;
}

function written(tree: Tree, path: string[]): boolean {
  const [head, ...rest] = path;
  if (head === undefined || !(head in tree)) return false;
  if (rest.length === 0) return true;
  const sub = asTree(tree[head]);
  return sub !== undefined && written(sub, rest);
}

/**
 * A Swarm task may run on any node the placement allows, and a bind mount only has the files of
 * the node it lands on (Swarm refuses to start a task whose bind source is missing there). A named
 * volume is fine: each node makes its own.
 */
function swarmVolumeProblem(spec: string, pinned: boolean): string | undefined {
  const v = parseVolume(spec);
  const odd = v.options.filter((o) => o !== "ro" && o !== "rw");
  if (odd.length > 0) return `"${spec}": a Swarm service's mounts take ro or rw here, not ${odd.map((o) => `"${o}"`).join(", ")}`;
  if (v.bind && !pinned) {
    return `"${spec}" binds a folder of whichever node runs the task; pin the service to one node with placement (such as "node.hostname == box1"), or use a named volume ("data:${v.target}"), which each node keeps for itself`;
  }
  return undefined;
}
