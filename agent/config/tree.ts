// agent.yaml as the YAML parser gives it, before the schema fills in defaults: for the checks that
// must see what a person wrote, and that report even when the schema failed (files.ts, swarm.ts).

export type Tree = Record<string, unknown>;

/** A mapping, or undefined for anything else (the schema reports what is wrong with it). */
export const asTree = (v: unknown): Tree | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Tree) : undefined);

/** A non-empty string, or undefined. */
export const asString = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
