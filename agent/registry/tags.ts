// tags/list with RFC 8288 `Link: <…>; rel="next"` pagination (distribution-spec "Listing Tags", docs/design.md#tag-list-paging).
import { z } from "zod";
import { AgentError } from "../errors.js";
import type { HttpResponse } from "./http.js";
import type { ImageReference } from "./reference.js";

/** distribution-spec `spec.md` "Listing Tags"; distribution answers `"tags": null` for a repository without tags. */
export const TagList = z.object({
  name: z.string(),
  tags: z.array(z.string()).nullable(),
});
export type TagList = z.infer<typeof TagList>;

/** A bound on pages so a registry whose `next` links loop cannot keep the poll busy forever. */
export const MAX_TAG_PAGES = 200;

/** The `rel="next"` target of a Link header, as written (usually relative to the registry). */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const values = Array.isArray(link) ? link : link === undefined ? [] : [link];
  for (const value of values) {
    for (const m of value.matchAll(/<([^>]*)>([^,<]*)/g)) {
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(m[2] ?? "");
      const relations = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/);
      if (relations.includes("next")) return m[1];
    }
  }
  return undefined;
}

export async function fetchAllTags(
  ref: ImageReference,
  image: string,
  get: (url: string) => Promise<HttpResponse>,
): Promise<string[]> {
  const tags: string[] = [];
  const seen = new Set<string>();
  let next: string | undefined = `/v2/${ref.repository}/tags/list`;
  for (let page = 0; next !== undefined; page++) {
    if (page >= MAX_TAG_PAGES || seen.has(next)) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `tag list of ${image} on ${ref.host} did not end after ${page} pages`, {
        hint: "the registry's pagination links loop; the agent tries again on its next poll",
      });
    }
    seen.add(next);
    const res = await get(next);
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString("utf8"));
    } catch {
      json = undefined;
    }
    const parsed = TagList.safeParse(json);
    if (!parsed.success) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `tag list of ${image} on ${ref.host} is not {"name","tags"} JSON`);
    }
    tags.push(...(parsed.data.tags ?? []));
    next = nextLink(res.headers.link);
  }
  return tags;
}
