// tags/list with RFC 8288 `Link: <…>; rel="next"` pagination (distribution-spec "Listing Tags", docs/design.md#tag-list-paging).
// The list is bounded in pages, tags and bytes: a registry's answer must not be able to fill memory.
import { z } from "zod";
import { AgentError } from "../errors.js";
import { parseJson } from "./body.js";
import { isTooLarge, type HttpResponse } from "./http.js";
import type { ImageReference } from "./reference.js";

/** distribution-spec `spec.md` "Listing Tags"; distribution answers `"tags": null` for a repository without tags. */
export const TagList = z.object({
  name: z.string(),
  tags: z.array(z.string()).nullable(),
});
export type TagList = z.infer<typeof TagList>;

/** A bound on pages so a registry whose `next` links loop cannot keep the poll busy forever. */
export const MAX_TAG_PAGES = 200;

export interface TagListLimits {
  /** Most tags read across all pages. */
  maxTags: number;
  /** Most bytes of tag-list bodies read across all pages. */
  maxBytes: number;
}

/**
 * 10 000 tags of up to 128 characters (distribution's tag grammar) is about 1.4 MB of JSON, so the
 * byte bound only bites on a registry padding its answers.
 */
export const DEFAULT_TAG_LIST_LIMITS: TagListLimits = { maxTags: 10_000, maxBytes: 2 * 1024 * 1024 };

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

/** Every tag of `image`, page by page; `get` fetches one page, reading at most `maxBytes` of its body. */
export async function fetchAllTags(
  ref: ImageReference,
  image: string,
  get: (url: string, maxBytes: number) => Promise<HttpResponse>,
  limits: TagListLimits = DEFAULT_TAG_LIST_LIMITS,
): Promise<string[]> {
  const tags: string[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  let next: string | undefined = `/v2/${ref.repository}/tags/list`;
  for (let page = 0; next !== undefined; page++) {
    if (page >= MAX_TAG_PAGES || seen.has(next)) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `tag list of ${image} on ${ref.host} did not end after ${page} pages`, {
        hint: "the registry's pagination links loop; the agent tries again on its next poll",
      });
    }
    seen.add(next);
    let res: HttpResponse;
    try {
      res = await get(next, limits.maxBytes - bytes);
    } catch (err) {
      if (isTooLarge(err)) throw tooMany(ref, image, `more than ${limits.maxBytes} bytes of tags`, err);
      throw err;
    }
    bytes += res.body.length;
    const parsed = TagList.safeParse(parseJson(res.body));
    if (!parsed.success) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `tag list of ${image} on ${ref.host} is not {"name","tags"} JSON`);
    }
    tags.push(...(parsed.data.tags ?? []));
    if (tags.length > limits.maxTags) throw tooMany(ref, image, `more than ${limits.maxTags} tags`);
    next = nextLink(res.headers.link);
  }
  return tags;
}

function tooMany(ref: ImageReference, image: string, what: string, cause?: unknown): AgentError {
  return new AgentError("REGISTRY_UNAVAILABLE", `repository ${image} on ${ref.host} has ${what}; the agent reads at most that many to pick a semver track`, {
    hint: "delete old tags from the repository, or track a tag (e.g. latest or v1) instead of a version range",
    ...(cause === undefined ? {} : { cause }),
  });
}
