// What a registry or token server said in an error body, made fit for a message: the body is
// outside text, so it is stripped of terminal control and cut short before it reaches a log,
// the state file or agentctl.
import { cleanText } from "../text.js";

/** Longest piece of a registry's own words kept in one message. */
export const ERROR_DETAIL_MAX_BYTES = 300;

/**
 * The first error of a distribution body (`{"errors":[{"code","message"}]}`), else the `details`,
 * `error_description`, `error` or `message` field token servers use, else the first line of text;
 * undefined for an empty body.
 */
export function errorDetail(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  const json = parseJson(body);
  let detail: string | undefined;
  if (json !== null && typeof json === "object") {
    const o = json as { errors?: unknown; details?: unknown; error_description?: unknown; error?: unknown; message?: unknown };
    const first = Array.isArray(o.errors) ? (o.errors[0] as { code?: unknown; message?: unknown } | undefined) : undefined;
    if (first !== undefined && first !== null) detail = [first.code, first.message].filter((v) => typeof v === "string" && v !== "").join(": ");
    else detail = [o.details, o.error_description, o.error, o.message].find((v): v is string => typeof v === "string" && v !== "");
  } else {
    detail = body.toString("utf8", 0, 4096).split("\n")[0];
  }
  const clean = cleanText((detail ?? "").replace(/\s+/g, " ").trim(), ERROR_DETAIL_MAX_BYTES);
  return clean === "" ? undefined : clean;
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}
