// `agentctl completion bash|zsh|fish`: shell completion scripts derived from the same verb table that
// --help prints, so a verb or flag added to a command file completes without a second list to keep.
// App names are not written into the script: it asks `agentctl __complete apps` each time, so an app
// added to agent.yaml completes without regenerating anything.
import { GLOBAL_SWITCHES, GLOBAL_VALUE_FLAGS, SHORT_SWITCHES, type Command, type FlagSpec } from "./command.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** What the first argument after a verb is: an app, one of fixed words, a verb, or nothing to complete. */
export type FirstArg = { kind: "app" } | { kind: "words"; words: string[] } | { kind: "verb" } | { kind: "none" };

export interface CompletionVerb {
  verb: string;
  summary: string;
  flags: [string, FlagSpec][];
  first: FirstArg;
}

export interface CompletionModel {
  verbs: CompletionVerb[];
  globals: [string, FlagSpec][];
  shorts: string[];
  /** Every flag, global or a verb's, that takes a value: the word after it is not a verb or argument. */
  valueFlags: string[];
}

export type VerbEntry = Pick<Command, "verb" | "usage" | "summary" | "flags"> & { hidden?: true };

/** The first positional in a usage line: "[app]", "test", "bash|zsh|fish", "[verb]". */
export function firstArg(usage: string): FirstArg {
  const token = usage.split(/\s+/).slice(1).find((t) => !t.startsWith("[--"));
  if (token === undefined) return { kind: "none" };
  if (token === "[app]") return { kind: "app" };
  if (token === "[verb]") return { kind: "verb" };
  if (/^[a-z|]+$/.test(token)) return { kind: "words", words: token.split("|") };
  return { kind: "none" };
}

export function completionModel(commands: readonly VerbEntry[]): CompletionModel {
  const verbs = commands
    .filter((c) => !c.hidden)
    .map((c) => ({ verb: c.verb, summary: c.summary, flags: Object.entries(c.flags), first: firstArg(c.usage) }));
  const globals = [...Object.entries(GLOBAL_VALUE_FLAGS), ...Object.entries(GLOBAL_SWITCHES)];
  const valueFlags = new Set<string>();
  for (const [name, f] of [...globals, ...verbs.flatMap((v) => v.flags)]) if (!f.switch) valueFlags.add(`--${name}`);
  return { verbs, globals, shorts: Object.keys(SHORT_SWITCHES), valueFlags: [...valueFlags] };
}

/** A POSIX single-quoted word for bash and zsh, where nothing inside single quotes is special but the quote. */
function q(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A fish single-quoted word: there, backslash and the quote are escaped inside the quotes. */
function fishQ(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function verbsWith(m: CompletionModel, kind: FirstArg["kind"]): string[] {
  return m.verbs.filter((v) => v.first.kind === kind).map((v) => v.verb);
}

const HEADER = (shell: Shell) => `# ${shell} completion for agentctl (deploy-agent), printed by: agentctl completion ${shell}
# App names come from "agentctl __complete apps" at completion time: from the --config file on the
# line if one is given, else from the running daemon; none while the daemon is down.`;

/** The shell-neutral loop that finds the verb and counts the arguments after it (bash and zsh share it). */
function scanLoop(m: CompletionModel, words: string, first: number, last: string): string {
  return `  for ((i = ${first}; i < ${last}; i++)); do
    case "\${${words}[i]}" in
      ${m.valueFlags.join("|")}) ((i++)) ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb="\${${words}[i]}"; else ((npos++)); fi ;;
    esac
  done`;
}

/**
 * Runs the agentctl being completed with the --socket and --config already on the line, so app names
 * come from the same daemon or file the command will use.
 */
function appsFunction(words: string, first: number, last: string): string {
  return `_agentctl_apps() {
  local -a args
  local i
  for ((i = ${first}; i < ${last}; i++)); do
    case "\${${words}[i]}" in
      --socket|--config) args+=("\${${words}[i]}" "\${${words}[i+1]}") ;;
    esac
  done
  "\${${words}[${first - 1}]}" "\${args[@]}" __complete apps 2>/dev/null
}`;
}

export function bashScript(m: CompletionModel): string {
  const verbFlags = m.verbs
    .filter((v) => v.flags.length > 0)
    .map((v) => `    ${v.verb}) flags+=" ${v.flags.map(([n]) => `--${n}`).join(" ")}" ;;`);
  const firstCases = m.verbs
    .filter((v) => v.first.kind === "words")
    .map((v) => `    ${v.verb}) COMPREPLY=($(compgen -W ${q(v.first.kind === "words" ? v.first.words.join(" ") : "")} -- "$cur")) ;;`);
  const appVerbs = verbsWith(m, "app");
  const helpVerbs = verbsWith(m, "verb");
  return `${HEADER("bash")}
# Installed by install.sh as /usr/share/bash-completion/completions/agentctl.

${appsFunction("COMP_WORDS", 1, "COMP_CWORD")}

_agentctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" verb="" npos=0 i
  COMPREPLY=()
  case "$prev" in
    --socket|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${m.valueFlags.filter((f) => f !== "--socket" && f !== "--config").join("|")}) return ;;
  esac
${scanLoop(m, "COMP_WORDS", 1, "COMP_CWORD")}
  if [[ $cur == -* ]]; then
    local flags=${q([...m.globals.map(([n]) => `--${n}`), ...m.shorts].join(" "))}
    case "$verb" in
${verbFlags.join("\n")}
    esac
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  if [[ -z $verb ]]; then
    COMPREPLY=($(compgen -W ${q(m.verbs.map((v) => v.verb).join(" "))} -- "$cur"))
    return
  fi
  ((npos == 0)) || return
  case "$verb" in
${appVerbs.length > 0 ? `    ${appVerbs.join("|")}) COMPREPLY=($(compgen -W "$(_agentctl_apps)" -- "$cur")) ;;\n` : ""}${helpVerbs.length > 0 ? `    ${helpVerbs.join("|")}) COMPREPLY=($(compgen -W ${q(m.verbs.map((v) => v.verb).join(" "))} -- "$cur")) ;;\n` : ""}${firstCases.join("\n")}
  esac
}
complete -F _agentctl agentctl
`;
}

function zshDescribed(items: [string, string][]): string {
  return items.map(([name, text]) => q(`${name.replace(/:/g, "\\:")}:${text}`)).join(" ");
}

export function zshScript(m: CompletionModel): string {
  const verbFlags = m.verbs
    .filter((v) => v.flags.length > 0)
    .map((v) => `    ${v.verb}) flags+=(${zshDescribed(v.flags.map(([n, f]) => [`--${n}`, f.description]))}) ;;`);
  const firstCases = m.verbs
    .filter((v) => v.first.kind === "words")
    .map((v) => `    ${v.verb}) compadd -- ${v.first.kind === "words" ? v.first.words.join(" ") : ""} ;;`);
  const appVerbs = verbsWith(m, "app");
  const helpVerbs = verbsWith(m, "verb");
  return `#compdef agentctl
${HEADER("zsh")}

${appsFunction("words", 2, "CURRENT")}

_agentctl() {
  local verb="" npos=0 i
  local -a verbs flags apps
  verbs=(${zshDescribed(m.verbs.map((v) => [v.verb, v.summary]))})
  case "\${words[CURRENT-1]}" in
    --socket|--config) _files; return ;;
    ${m.valueFlags.filter((f) => f !== "--socket" && f !== "--config").join("|")}) return ;;
  esac
${scanLoop(m, "words", 2, "CURRENT")}
  if [[ \${words[CURRENT]} == -* ]]; then
    flags=(${zshDescribed([...m.globals.map(([n, f]): [string, string] => [`--${n}`, f.description]), ...m.shorts.map((s): [string, string] => [s, `--${SHORT_SWITCHES[s]}`])])})
    case "$verb" in
${verbFlags.join("\n")}
    esac
    _describe flag flags
    return
  fi
  if [[ -z $verb ]]; then
    _describe verb verbs
    return
  fi
  ((npos == 0)) || return
  case "$verb" in
${appVerbs.length > 0 ? `    ${appVerbs.join("|")}) apps=(\${(f)"$(_agentctl_apps)"}); compadd -- $apps ;;\n` : ""}${helpVerbs.length > 0 ? `    ${helpVerbs.join("|")}) _describe verb verbs ;;\n` : ""}${firstCases.join("\n")}
  esac
}

if [ "$funcstack[1]" = "_agentctl" ]; then
  _agentctl "$@"
else
  compdef _agentctl agentctl
fi
`;
}

export function fishScript(m: CompletionModel): string {
  const lines: string[] = [];
  for (const [name, f] of m.globals) {
    const path = name === "socket" || name === "config";
    lines.push(`complete -c agentctl -l ${name}${f.switch ? "" : path ? " -r -F" : " -x"} -d ${fishQ(f.description)}`);
  }
  for (const [short, long] of Object.entries(SHORT_SWITCHES)) lines.push(`complete -c agentctl -s ${short.slice(1)} -d ${fishQ(`--${long}`)}`);
  for (const v of m.verbs) {
    lines.push(`complete -c agentctl -n __agentctl_needs_verb -a ${v.verb} -d ${fishQ(v.summary)}`);
    for (const [name, f] of v.flags) {
      lines.push(`complete -c agentctl -n ${fishQ(`__agentctl_using ${v.verb}`)} -l ${name}${f.switch ? "" : " -x"} -d ${fishQ(f.description)}`);
    }
  }
  const appVerbs = verbsWith(m, "app");
  if (appVerbs.length > 0) lines.push(`complete -c agentctl -n ${fishQ(`__agentctl_first_arg ${appVerbs.join(" ")}`)} -a '(__agentctl_apps)'`);
  for (const v of m.verbs) {
    if (v.first.kind === "verb") lines.push(`complete -c agentctl -n ${fishQ(`__agentctl_first_arg ${v.verb}`)} -a ${fishQ(m.verbs.map((x) => x.verb).join(" "))}`);
    if (v.first.kind === "words") lines.push(`complete -c agentctl -n ${fishQ(`__agentctl_first_arg ${v.verb}`)} -a ${fishQ(v.first.words.join(" "))}`);
  }
  return `${HEADER("fish")}

${fishHelpers(m)}
complete -c agentctl -f
${lines.join("\n")}
`;
}

/** fish's conditions (-n) for the complete lines: the verb typed so far and how many arguments follow it. */
function fishHelpers(m: CompletionModel): string {
  return `# Prints how many arguments follow the verb, then the verb (absent when none is typed yet).
function __agentctl_words
    set -l toks (commandline -opc)
    set -l verb
    set -l npos 0
    set -l skip 0
    for t in $toks[2..-1]
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $t
            case ${m.valueFlags.join(" ")}
                set skip 1
            case '-*'
            case '*'
                if test -z "$verb"
                    set verb $t
                else
                    set npos (math $npos + 1)
                end
        end
    end
    echo $npos
    test -n "$verb"; and echo $verb
end

function __agentctl_needs_verb
    set -l w (__agentctl_words)
    test -z "$w[2]"
end

function __agentctl_using
    set -l w (__agentctl_words)
    test -n "$w[2]"; and contains -- $w[2] $argv
end

function __agentctl_first_arg
    set -l w (__agentctl_words)
    test -n "$w[2]"; and test $w[1] -eq 0; and contains -- $w[2] $argv
end

function __agentctl_apps
    set -l toks (commandline -opc)
    set -l args
    for i in (seq 2 (math (count $toks) - 1))
        switch $toks[$i]
            case --socket --config
                set -a args $toks[$i] $toks[(math $i + 1)]
        end
    end
    $toks[1] $args __complete apps 2>/dev/null
end`;
}

export function completionScript(shell: Shell, m: CompletionModel): string {
  switch (shell) {
    case "bash":
      return bashScript(m);
    case "zsh":
      return zshScript(m);
    case "fish":
      return fishScript(m);
  }
}
