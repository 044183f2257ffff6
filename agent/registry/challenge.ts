// `WWW-Authenticate` parsing (RFC 7235 §4.1, RFC 6750 §3). Registries answer 401 with one
// challenge, but the grammar allows several, and quoted values may hold commas (`scope="a:b:pull,push"`).

export interface BearerChallenge {
  scheme: "bearer";
  realm: string;
  service?: string;
  /** Space-separated scopes as sent, e.g. `repository:acme/web:pull`. */
  scope?: string;
  /** `invalid_token` (expired or bad signature) or `insufficient_scope`. */
  error?: string;
}

export interface BasicChallenge {
  scheme: "basic";
  realm?: string;
}

export type Challenge = BearerChallenge | BasicChallenge;

interface RawChallenge {
  scheme: string;
  params: Map<string, string>;
}

/**
 * Parses every challenge in the header value(s); unknown schemes are dropped and a Bearer
 * challenge without a realm is dropped (there is nowhere to fetch a token from).
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const raw of values.flatMap(parseRaw)) {
    const get = (k: string): string | undefined => raw.params.get(k);
    if (raw.scheme === "bearer") {
      const realm = get("realm");
      if (!realm) continue;
      const c: BearerChallenge = { scheme: "bearer", realm };
      const service = get("service");
      const scope = get("scope");
      const error = get("error");
      if (service !== undefined) c.service = service;
      if (scope !== undefined) c.scope = scope;
      if (error !== undefined) c.error = error;
      out.push(c);
    } else if (raw.scheme === "basic") {
      const realm = get("realm");
      out.push(realm === undefined ? { scheme: "basic" } : { scheme: "basic", realm });
    }
  }
  return out;
}

const TOKEN_CHARS = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** A small scanner over `scheme param=value, param="quoted, value", Scheme2 token68`. */
function parseRaw(input: string): RawChallenge[] {
  const challenges: RawChallenge[] = [];
  let i = 0;
  const skip = (re: RegExp): void => {
    while (i < input.length && re.test(input[i] as string)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < input.length && TOKEN_CHARS.test(input[i] as string)) i++;
    return input.slice(start, i);
  };
  const quoted = (): string => {
    let value = "";
    i++; // opening quote
    while (i < input.length && input[i] !== '"') {
      if (input[i] === "\\" && i + 1 < input.length) i++;
      value += input[i];
      i++;
    }
    i++; // closing quote (or end of input for an unterminated value)
    return value;
  };
  let current: RawChallenge | undefined;
  while (i < input.length) {
    skip(/[\s,]/);
    if (i >= input.length) break;
    const name = token();
    if (name === "") {
      i++; // a character outside the grammar; step over it rather than loop forever
      continue;
    }
    const afterName = i;
    skip(/[ \t]/);
    if (input[i] !== "=" || current === undefined) {
      // Not `name=value`: this token is the scheme of a new challenge.
      i = afterName;
      current = { scheme: name.toLowerCase(), params: new Map() };
      challenges.push(current);
      continue;
    }
    const next = input[i + 1];
    if (next === undefined || next === "=" || next === ",") {
      skip(/=/); // the padding of a token68 credential (`Negotiate abc==`), not a parameter
      continue;
    }
    i++;
    skip(/[ \t]/);
    current.params.set(name.toLowerCase(), input[i] === '"' ? quoted() : token());
  }
  return challenges;
}
