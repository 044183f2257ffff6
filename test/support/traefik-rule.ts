// Traefik router rules, as far as the tests need them: Host (one or several names, the v2 form),
// Path, PathPrefix, combined with &&, ||, ! and parentheses. A rule using anything else is
// reported as one the model cannot evaluate, never silently treated as matching.

export type Rule =
  | { kind: "host"; hosts: string[] }
  | { kind: "path"; path: string }
  | { kind: "pathPrefix"; prefix: string }
  | { kind: "and" | "or"; left: Rule; right: Rule }
  | { kind: "not"; rule: Rule };

export interface RuleRequest {
  /** Host header without port. */
  host: string;
  /** URL path, e.g. `/version`. */
  path: string;
}

export class RuleError extends Error {
  override readonly name = "RuleError";
  constructor(
    message: string,
    /** true: valid for Traefik, but this model does not evaluate that matcher. */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

const MATCHERS: Record<string, (args: string[]) => Rule> = {
  host: (args) => ({ kind: "host", hosts: args.map((h) => h.toLowerCase()) }),
  path: (args) => ({ kind: "path", path: single("Path", args) }),
  pathprefix: (args) => ({ kind: "pathPrefix", prefix: single("PathPrefix", args) }),
};
const TRAEFIK_ONLY = ["hostregexp", "pathregexp", "method", "header", "headerregexp", "query", "queryregexp", "clientip", "hostsni"];

export function parseRule(text: string): Rule {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const take = (): Token => {
    const t = tokens[pos++];
    if (t === undefined) throw new RuleError(`rule ${JSON.stringify(text)} ends early`);
    return t;
  };
  const expect = (kind: Token["kind"]): Token => {
    const t = take();
    if (t.kind !== kind) throw new RuleError(`rule ${JSON.stringify(text)}: expected ${kind} at "${t.text}"`);
    return t;
  };

  const parseOr = (): Rule => {
    let left = parseAnd();
    while (peek()?.kind === "||") {
      take();
      left = { kind: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): Rule => {
    let left = parseUnary();
    while (peek()?.kind === "&&") {
      take();
      left = { kind: "and", left, right: parseUnary() };
    }
    return left;
  };
  const parseUnary = (): Rule => {
    const t = take();
    if (t.kind === "!") return { kind: "not", rule: parseUnary() };
    if (t.kind === "(") {
      const inner = parseOr();
      expect(")");
      return inner;
    }
    if (t.kind !== "ident") throw new RuleError(`rule ${JSON.stringify(text)}: unexpected "${t.text}"`);
    const name = t.text.toLowerCase();
    expect("(");
    const args = [expect("string").text];
    while (peek()?.kind === ",") {
      take();
      args.push(expect("string").text);
    }
    expect(")");
    const build = MATCHERS[name];
    if (build !== undefined) return build(args);
    if (TRAEFIK_ONLY.includes(name)) throw new RuleError(`matcher ${t.text} is not evaluated by the model`, true);
    throw new RuleError(`rule ${JSON.stringify(text)}: unknown matcher ${t.text}`);
  };

  const rule = parseOr();
  if (pos !== tokens.length) throw new RuleError(`rule ${JSON.stringify(text)}: unexpected "${tokens[pos]?.text}"`);
  return rule;
}

export function matchRule(rule: Rule, req: RuleRequest): boolean {
  switch (rule.kind) {
    case "host":
      // Traefik compares the request host without port, case-insensitively.
      return rule.hosts.includes(req.host.toLowerCase());
    case "path":
      return req.path === rule.path;
    case "pathPrefix":
      return req.path.startsWith(rule.prefix);
    case "and":
      return matchRule(rule.left, req) && matchRule(rule.right, req);
    case "or":
      return matchRule(rule.left, req) || matchRule(rule.right, req);
    case "not":
      return !matchRule(rule.rule, req);
  }
}

interface Token {
  kind: "ident" | "string" | "(" | ")" | "," | "&&" | "||" | "!";
  text: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === "`" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new RuleError(`rule ${JSON.stringify(text)}: unterminated string`);
      tokens.push({ kind: "string", text: text.slice(i + 1, end) });
      i = end + 1;
    } else if (text.startsWith("&&", i) || text.startsWith("||", i)) {
      tokens.push({ kind: text.slice(i, i + 2) as "&&" | "||", text: text.slice(i, i + 2) });
      i += 2;
    } else if (c === "(" || c === ")" || c === "," || c === "!") {
      tokens.push({ kind: c, text: c });
      i++;
    } else {
      const m = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(i));
      if (m === null) throw new RuleError(`rule ${JSON.stringify(text)}: unexpected "${c}"`);
      tokens.push({ kind: "ident", text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

function single(matcher: string, args: string[]): string {
  if (args.length !== 1 || args[0] === undefined) throw new RuleError(`${matcher} takes exactly one value`);
  return args[0];
}
