// GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body
// keyed with the shared secret (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
import { createHmac, timingSafeEqual } from "node:crypto";

/** `sha256=<hex>` for `body` under `secret`: what a caller puts in X-Hub-Signature-256. */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * Whether `header` is the signature of `body`. The comparison takes the same time whatever bytes
 * match, so a caller cannot find the signature byte by byte from response times; a header of the
 * wrong shape is refused before any comparison, which tells only what the public format says.
 */
export function signatureMatches(secret: string, body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== "string" || !/^sha256=[0-9a-fA-F]{64}$/.test(header)) return false;
  const given = Buffer.from(header.slice("sha256=".length).toLowerCase(), "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
