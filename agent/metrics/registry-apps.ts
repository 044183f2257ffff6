// Which app a registry request is for, read from its URL: the registry API names the repository
// in the path (/v2/<name>/manifests|blobs|tags/…, https://distribution.github.io/distribution/spec/api/).
// Token requests and other hosts' requests are for no one app.
import type { Config } from "../config/schema.js";
import { parseImageReference } from "../registry/reference.js";

const V2_PATH = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//;

/** A function from a request URL to its app's name, or "" when no single app owns the repository. */
export function registryAppOf(config: Pick<Config, "apps">): (url: URL) => string {
  const byRepo = new Map<string, string>();
  for (const [app, cfg] of Object.entries(config.apps)) {
    const ref = parseImageReference(cfg.image);
    const key = `${ref.host}/${ref.repository}`;
    // Two apps of one image share its requests (the client caches by image): neither is named.
    byRepo.set(key, byRepo.has(key) ? "" : app);
  }
  return (url) => {
    const m = V2_PATH.exec(url.pathname);
    return m ? (byRepo.get(`${url.host}/${m[1]}`) ?? "") : "";
  };
}
