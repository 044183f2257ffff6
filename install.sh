#!/usr/bin/env bash
# Installs deploy-agent from this checkout as a systemd service (Debian, Ubuntu, Raspberry Pi OS;
# amd64, arm64, armhf). Run as root; running it again upgrades in place and changes nothing else:
# directories and agent.yaml that already exist keep the modes and owners an admin gave them.
set -euo pipefail

readonly PREFIX=/opt/deploy-agent
readonly CONF_DIR=/etc/deploy-agent
readonly CONF="$CONF_DIR/agent.yaml"
readonly STATE_DIR=/var/lib/deploy-agent
readonly UNIT_NAME=deploy-agent.service
readonly UNIT="/etc/systemd/system/$UNIT_NAME"
readonly BIN_DIR=/usr/local/bin
# Where bash-completion loads a command's completion from on first Tab (bash-completion README).
readonly COMPLETION_FILE=/usr/share/bash-completion/completions/agentctl
readonly COMPLETION_MARK="# bash completion for agentctl (deploy-agent)"
readonly SERVICE_USER=deploy-agent
readonly NODE_MIN_MAJOR=20
# Marks the wrappers as ours, so --uninstall never deletes a same-named file it did not write.
readonly WRAPPER_MARK="# installed by deploy-agent install.sh"
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SRC_DIR

usage() {
  cat <<EOF
Usage: sudo ./install.sh [--no-build]
       sudo ./install.sh --uninstall [--purge]

Installs deploy-agent from this checkout ($SRC_DIR):
  - checks Node.js >= $NODE_MIN_MAJOR (installs Debian's nodejs/npm if node is missing)
  - checks Docker (installs docker.io if missing) and that the Engine answers
  - builds dist/ if it is missing or older than agent/ (npm ci --ignore-scripts && npm run build)
  - copies the build to $PREFIX and installs production dependencies there
  - creates the system user $SERVICE_USER (member of group docker), home $STATE_DIR
  - writes $BIN_DIR/agentctl and $BIN_DIR/deploy-agent, and agentctl's bash completion
    ($COMPLETION_FILE, printed by that agentctl)
  - writes $CONF.example and, only if absent, $CONF
  - installs $UNIT, enables it and, once $CONF is no longer the example, checks it
    (deploy-agent --check) and (re)starts the service only if it is valid

Options:
  --no-build    use dist/ as it is (e.g. a read-only checkout); fails if dist/ is missing
  --uninstall   stop and disable the service; remove the unit, $PREFIX and the wrappers, and
                take $SERVICE_USER out of group docker. Kept, and listed when it ends:
                $STATE_DIR (deploy history), the $SERVICE_USER user and group,
                $CONF_DIR (unless --purge), the apps' containers (never removed: they may
                still serve), the agent's images and the apps' networks.
  --purge       with --uninstall: also remove $CONF_DIR and, at a terminal only, ask about each
                kept thing in turn (containers, images, networks, state, user), removing only
                what is answered y
  -h, --help    show this help
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

systemd_running() { [[ -d /run/systemd/system ]]; }

apt_install() {
  command -v apt-get >/dev/null || die "$* missing and apt-get is not available; install $* yourself and re-run"
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

check_platform() {
  local id="unknown" like="" arch
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    id="$(. /etc/os-release && echo "${ID:-unknown}")"
    # shellcheck disable=SC1091
    like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
  fi
  case "$id $like" in
    *debian* | *ubuntu* | *raspbian*) ;;
    *) warn "untested distribution '$id'; continuing, but package installation uses apt-get" ;;
  esac
  arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
  case "$arch" in
    amd64 | x86_64 | arm64 | aarch64 | armhf | armv7l) say "platform: $id $arch" ;;
    *) warn "untested architecture '$arch' (supported: amd64, arm64, armhf); continuing" ;;
  esac
  ARCH="$arch"
}

# The unit and the wrappers run /usr/bin/node; any other node on PATH is not what systemd will use.
readonly NODE=/usr/bin/node

node_major() { "$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

check_node() {
  if [[ ! -x "$NODE" ]]; then
    if command -v node >/dev/null; then
      warn "node found at $(command -v node) but not at $NODE, which the service uses"
    fi
    apt_install nodejs npm
  fi
  [[ -x "$NODE" ]] || die "$NODE is still missing after installing nodejs; install Node.js >= $NODE_MIN_MAJOR so that $NODE exists"
  local version major
  version="$("$NODE" --version 2>/dev/null || echo unknown)"
  major="$(node_major)"
  if ((major < NODE_MIN_MAJOR)); then
    local hint="Debian 13 (trixie) ships Node.js 20 (apt-get install nodejs npm); elsewhere use NodeSource's node_20.x packages (https://github.com/nodesource/distributions)"
    if [[ "$ARCH" == armhf || "$ARCH" == armv7l ]]; then
      hint="$hint; on 32-bit Raspberry Pi OS, a trixie-based release ships Node.js 20"
    fi
    die "Node.js $version found at $NODE; deploy-agent needs >= $NODE_MIN_MAJOR. $hint, then re-run install.sh"
  fi
  command -v npm >/dev/null || apt_install npm
  say "node $version, npm $(npm --version)"
}

docker_answers() { timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null; }

check_docker() {
  if ! command -v docker >/dev/null; then
    apt_install docker.io
    if systemd_running; then systemctl enable --now docker; fi
  fi
  local version
  if ! version="$(docker_answers)"; then
    if systemd_running && systemctl cat docker.service >/dev/null 2>&1; then
      say "starting docker.service"
      systemctl enable --now docker
      local _
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        if version="$(docker_answers)"; then break; fi
        sleep 1
      done
    fi
  fi
  [[ -n "${version:-}" ]] || die "the Docker Engine does not answer ($(docker version 2>&1 | tail -n1)); start it (systemctl start docker) and re-run"
  say "Docker Engine $version"
  local sock=/var/run/docker.sock group
  if [[ -S "$sock" ]]; then
    group="$(stat -c %G "$sock")"
    [[ "$group" == docker ]] || warn "$sock belongs to group '$group', not 'docker'; the service (SupplementaryGroups=docker) will not be able to use it"
  fi
  getent group docker >/dev/null || die "group 'docker' does not exist; the Docker package normally creates it (groupadd --system docker, then restart Docker)"
}

# As the checkout's owner when it is not root, so a `sudo ./install.sh` leaves no root-owned files.
as_owner() {
  local owner
  owner="$(stat -c %U "$SRC_DIR")"
  if [[ "$owner" != root ]] && command -v runuser >/dev/null; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

build_if_needed() {
  local main="$SRC_DIR/dist/agent/daemon/main.js"
  if [[ "$NO_BUILD" -eq 1 ]]; then
    [[ -f "$main" ]] || die "--no-build given but $main is missing; run npm ci && npm run build in $SRC_DIR"
    return
  fi
  if [[ -f "$main" ]] && [[ -z "$(find "$SRC_DIR/agent" -name '*.ts' -newer "$main" -print -quit)" ]]; then
    say "dist/ is up to date"
    return
  fi
  say "building in $SRC_DIR"
  # Each step's status is checked where it runs: inside `( … ) || die`, bash ignores set -e, so a
  # failed npm ci went on to a build that failed with "tsc: not found" instead of npm's own error.
  # --ignore-scripts: the build needs only tsc, and as_owner is root for a root-owned checkout;
  # no dependency's install script runs with the installer's privileges.
  if [[ ! -x "$SRC_DIR/node_modules/.bin/tsc" ]]; then
    if ! (cd "$SRC_DIR" && as_owner npm ci --ignore-scripts --no-audit --no-fund); then
      die "npm ci failed in $SRC_DIR (its error is above); fix it, or pass --no-build to install the existing dist/"
    fi
  fi
  if ! (cd "$SRC_DIR" && as_owner npm run build); then
    die "npm run build failed in $SRC_DIR (its error is above); fix it, or pass --no-build to install the existing dist/"
  fi
  [[ -f "$main" ]] || die "the build did not produce $main"
}

# Set to 1 by any step that changes an installed file; decides whether a running service restarts.
CHANGED=0

# install_file MODE OWNER:GROUP SRC DEST — copies only when the content or mode differs.
install_file() {
  local mode="$1" owner="$2" src="$3" dest="$4"
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest" && [[ "$(stat -c '%a %U:%G' "$dest")" == "${mode#0} $owner" ]]; then
    return
  fi
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest"
  CHANGED=1
}

# ensure_dir MODE OWNER:GROUP DIR — creates DIR with that mode and owner only when it is missing.
# One that exists keeps what an admin set (say 0700 on the state dir): a re-run never loosens it.
ensure_dir() {
  local mode="$1" owner="$2" dir="$3"
  [[ -d "$dir" ]] && return
  install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"
}

install_app() {
  ensure_dir 0755 root:root "$PREFIX"
  ensure_dir 0755 root:root "$PREFIX/dist"
  if ! diff -rq "$SRC_DIR/dist/agent" "$PREFIX/dist/agent" >/dev/null 2>&1; then
    say "copying dist/agent to $PREFIX"
    rm -rf "$PREFIX/dist/agent.new"
    cp -R "$SRC_DIR/dist/agent" "$PREFIX/dist/agent.new"
    chown -R root:root "$PREFIX/dist/agent.new"
    chmod -R u=rwX,go=rX "$PREFIX/dist/agent.new"
    rm -rf "$PREFIX/dist/agent"
    mv "$PREFIX/dist/agent.new" "$PREFIX/dist/agent"
    CHANGED=1
  fi
  local f
  # The README links docs/ (design and reliability) and examples/, so the installed copy keeps them beside it.
  ensure_dir 0755 root:root "$PREFIX/docs"
  ensure_dir 0755 root:root "$PREFIX/examples"
  ensure_dir 0755 root:root "$PREFIX/examples/traefik"
  for f in package.json package-lock.json README.md docs/design.md docs/reliability.md examples/traefik/compose.yaml; do
    if [[ -f "$SRC_DIR/$f" ]]; then install_file 0644 root:root "$SRC_DIR/$f" "$PREFIX/$f"; fi
  done
  # The schemas of agentctl --json, which the README lists.
  ensure_dir 0755 root:root "$PREFIX/docs/json"
  for f in "$SRC_DIR"/docs/json/*.schema.json; do
    if [[ -f "$f" ]]; then install_file 0644 root:root "$f" "$PREFIX/docs/json/${f##*/}"; fi
  done
  # npm ci wipes node_modules; repeat it only when the lock file changed since the last install.
  local stamp="$PREFIX/node_modules/.deploy-agent-lock.sha256" want
  want="$(sha256sum "$PREFIX/package-lock.json" | cut -d' ' -f1)"
  if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    say "npm ci --omit=dev --omit=optional in $PREFIX"
    # --omit=optional skips ssh2's native cpu-features; --ignore-scripts: the runtime deps are pure
    # JS, and nothing from the registry runs as root here.
    (cd "$PREFIX" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error) \
      || die "npm ci failed in $PREFIX (is https://registry.npmjs.org reachable?)"
    echo "$want" >"$stamp"
    CHANGED=1
  fi
}

ensure_user() {
  getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    say "creating system user $SERVICE_USER"
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "deploy-agent daemon" "$SERVICE_USER"
  fi
  id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$SERVICE_USER"
  # systemd (StateDirectory=) also creates and chowns it; here so it exists before the first start.
  ensure_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
}

# Printed by the agentctl just installed, so it completes exactly that version's verbs and flags;
# app names it asks agentctl for at each Tab. After install_unit: it never causes a restart.
install_completion() {
  local tmp
  tmp="$(mktemp)"
  if ! "$BIN_DIR/agentctl" completion bash >"$tmp" || ! head -n 1 "$tmp" | grep -qF "$COMPLETION_MARK"; then
    rm -f "$tmp"
    warn "agentctl completion bash failed; $COMPLETION_FILE not written (the agent is installed all the same)"
    return
  fi
  mkdir -p "$(dirname "$COMPLETION_FILE")"
  install_file 0644 root:root "$tmp" "$COMPLETION_FILE"
  rm -f "$tmp"
}

write_wrapper() {
  local name="$1" script="$2" tmp
  tmp="$(mktemp)"
  printf '#!/bin/sh\n%s\nexec %s %s "$@"\n' "$WRAPPER_MARK" "$NODE" "$PREFIX/dist/agent/$script" >"$tmp"
  if [[ -e "$BIN_DIR/$name" ]] && ! grep -qxF "$WRAPPER_MARK" "$BIN_DIR/$name"; then
    rm -f "$tmp"
    die "$BIN_DIR/$name exists and was not written by install.sh; move it away and re-run"
  fi
  install_file 0755 root:root "$tmp" "$BIN_DIR/$name"
  rm -f "$tmp"
}

# Valid as written (one app), so that `systemctl start` fails only on purpose; see README "Configuration".
# Its names (network web, entrypoint websecure, certresolver le, the API on 127.0.0.1:8080) are
# those of examples/traefik/compose.yaml and the README's quick start: test/unit/examples.test.ts.
example_config() {
  cat <<'EOF'
# yaml-language-server: $schema=./agent.schema.json
# deploy-agent configuration. Every key is documented in /opt/deploy-agent/README.md.
# Traefik with the same names (network web, entrypoints web and websecure, certresolver le,
# API on 127.0.0.1:8080): /opt/deploy-agent/examples/traefik/compose.yaml
# After editing: deploy-agent --check --config /etc/deploy-agent/agent.yaml
#           and: systemctl restart deploy-agent (or run install.sh again, which checks first)
traefik:
  api: http://127.0.0.1:8080      # Traefik's API, to confirm each switch
apps:
  web:
    image: ghcr.io/example/web    # repository without tag
    track: latest                 # tag to follow
    schedule: "*/5 * * * *"       # poll every 5 minutes
    port: 8000                    # port the app listens on inside the container
    health:
      path: /health
      startTimeout: 60s
    route:                        # Traefik labels, identical on blue and green
      rule: Host(`web.example.com`)
      entrypoints: [websecure]
      certresolver: le
      network: web
# registries:
#   ghcr.io:
#     username: example
#     passwordFile: /etc/deploy-agent/ghcr-token   # mode 0600, owned by deploy-agent (group or others readable is refused)
#     # or: credential: ghcr-token                  # LoadCredential= in a drop-in (see the unit); the file may stay root-only
EOF
}

install_config() {
  ensure_dir 0755 root:root "$CONF_DIR"
  local tmp
  tmp="$(mktemp)"
  example_config >"$tmp"
  install_file 0644 root:root "$tmp" "$CONF.example"
  rm -f "$tmp"
  if [[ ! -e "$CONF" ]]; then
    say "writing $CONF from the example"
    install -m 0640 -o root -g "$SERVICE_USER" "$CONF.example" "$CONF"
  else
    say "keeping existing $CONF"
  fi
}

# The config's JSON Schema beside it, from the build just installed, so the example's first line
# (yaml-language-server: $schema=./agent.schema.json) works in an editor without internet.
install_schema() {
  local tmp changed="$CHANGED"
  tmp="$(mktemp)"
  "$BIN_DIR/deploy-agent" schema >"$tmp" || { rm -f "$tmp"; die "deploy-agent schema failed; the build in $PREFIX is broken, re-run install.sh"; }
  install_file 0644 root:root "$tmp" "$CONF_DIR/agent.schema.json"
  rm -f "$tmp"
  # The daemon never reads it: a new schema alone restarts nothing.
  CHANGED="$changed"
}

config_is_example() { cmp -s "$CONF" "$CONF.example"; }

# Before any restart: a config that does not validate would stop the running agent (exit 78, which
# systemd does not restart), so it is refused here and the service keeps what it runs.
check_config() {
  local out
  say "checking $CONF: deploy-agent --check --config $CONF"
  if out="$("$BIN_DIR/deploy-agent" --check --config "$CONF" 2>&1)"; then
    printf '%s\n' "$out" | sed 's/^/    /'
    return
  fi
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  local now="is not running"
  systemctl is-active --quiet "$UNIT_NAME" && now="keeps running with the config it started with"
  die "$CONF is not valid (above); $UNIT_NAME was not restarted and $now. Fix it, check it with deploy-agent --check --config $CONF, and re-run install.sh"
}

show_failure() {
  systemctl --no-pager --lines=0 status "$UNIT_NAME" >&2 || true
  journalctl --no-pager -u "$UNIT_NAME" -n 20 -o cat >&2 || true
}

install_unit() {
  install_file 0644 root:root "$SRC_DIR/systemd/$UNIT_NAME" "$UNIT"
  if ! systemd_running; then
    warn "systemd is not running here; installed $UNIT but did not enable or start it"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME" >/dev/null 2>&1
  if config_is_example; then
    say "$UNIT_NAME is enabled but not started: $CONF is still the example."
    say "Edit it, check it (deploy-agent --check --config $CONF), then run install.sh again or systemctl restart deploy-agent"
    return
  fi
  check_config
  if [[ "$CHANGED" -eq 0 ]] && systemctl is-active --quiet "$UNIT_NAME"; then
    say "$UNIT_NAME is running and nothing changed"
    return
  fi
  say "restarting $UNIT_NAME"
  # Type=notify: this returns once the daemon has sent READY=1, or fails if it exits first.
  systemctl restart "$UNIT_NAME" || {
    show_failure
    die "$UNIT_NAME did not start; see the log above (journalctl -u deploy-agent)"
  }
  say "$UNIT_NAME is active. Logs: journalctl -u deploy-agent -f    Status: agentctl status"
}

do_install() {
  check_platform
  check_node
  check_docker
  build_if_needed
  ensure_user
  install_app
  write_wrapper agentctl cli/agentctl.js
  write_wrapper deploy-agent daemon/main.js
  install_config
  install_schema
  install_unit
  install_completion
  say "done"
}

# Group docker is root-equivalent (the Engine does what its socket is told); the user stays, the access goes.
leave_docker_group() {
  getent passwd "$SERVICE_USER" >/dev/null || return 0
  id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx docker || return 0
  gpasswd -d "$SERVICE_USER" docker >/dev/null \
    || die "could not take $SERVICE_USER out of group docker; run: gpasswd -d $SERVICE_USER docker (membership is root-equivalent)"
  say "took $SERVICE_USER out of group docker"
}

# What --uninstall leaves behind on purpose, each with why, so nobody believes the host is clean
# when it is not. Containers are never removed here: they may still serve.
report_kept() {
  say "kept:"
  [[ -d "$STATE_DIR" ]] \
    && say "  $STATE_DIR: state.json, the deploy history and each app's live release, kept so a reinstall carries on where this one stopped; rm -r it once unneeded"
  getent passwd "$SERVICE_USER" >/dev/null \
    && say "  user and group $SERVICE_USER: kept because they own $STATE_DIR (and any file you gave the group); userdel $SERVICE_USER once that is gone"
  [[ "$PURGE" -eq 0 && -d "$CONF_DIR" ]] \
    && say "  $CONF_DIR: agent.yaml and any credentials, kept because they are your edits; --uninstall --purge removes it"
  local found=0
  own_things || found=$?
  case $found in
    0)
      [[ -n "$OWN_CONTAINERS" ]] \
        && say "  app containers, kept because they may still serve your apps (stop them with docker rm -f): $OWN_CONTAINERS"
      [[ -n "$OWN_IMAGES" ]] \
        && say "  the agent's rollback images, kept so a reinstall can still roll back (remove with docker rmi): $OWN_IMAGES"
      [[ -n "$OWN_NETWORKS" ]] \
        && say "  the apps' networks, kept because Traefik and those containers share them (docker network rm once unused): $OWN_NETWORKS"
      [[ -n "$OWN_CONTAINERS$OWN_IMAGES$OWN_NETWORKS" ]] || say "  no container, rollback image or network of this agent's is on the Engine"
      ;;
    1) say "  no container, image or network is listed: $STATE_DIR/state.json names no agent identity (the agent never ran here), so nothing on the Engine can be told to be this agent's" ;;
    *) say "  the apps' containers, images and networks: not listed, the Docker Engine did not answer (docker ps --filter label=deploy-agent.managed=true)" ;;
  esac
  return 0
}

# ask QUESTION — true only for an explicit y or yes typed at a terminal; anything else keeps the thing.
ask() {
  local answer=""
  read -r -p "==> $1 [y/N] " answer || return 1
  [[ "${answer,,}" == y || "${answer,,}" == yes ]]
}

# The agent's identity and apps, from its state file: only what carries that identity is offered, so
# another agent's containers on the same Engine are never touched.
state_field() {
  [[ -r "$STATE_DIR/state.json" ]] || return 0
  "$NODE" -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (process.argv[2] === "agentId") console.log(s.agentId ?? ""); else console.log(Object.keys(s.apps ?? {}).join("\n"));' \
    "$STATE_DIR/state.json" "$1" 2>/dev/null || true
}

# own_things — sets OWN_CONTAINERS, OWN_IMAGES and OWN_NETWORKS (space-separated names) to what carries
# this agent's identity (deploy-agent.owner=<agentId of its state file>) and its apps' keep-tags, so
# another agent's things on the same Engine are never listed or offered. Returns 1 without an identity,
# 2 when the Engine does not answer.
own_things() {
  OWN_CONTAINERS="" OWN_IMAGES="" OWN_NETWORKS=""
  local id apps="" app
  id="$(state_field agentId)"
  [[ -n "$id" ]] || return 1
  command -v docker >/dev/null && docker_answers >/dev/null || return 2
  OWN_CONTAINERS="$(timeout 20 docker ps -a --filter label=deploy-agent.managed=true --filter "label=deploy-agent.owner=$id" --format '{{.Names}}' | sort | paste -sd' ' || true)"
  if [[ -n "$OWN_CONTAINERS" ]]; then
    # shellcheck disable=SC2086 # one name per word
    OWN_NETWORKS="$(timeout 20 docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{"\n"}}{{end}}' $OWN_CONTAINERS | grep -vxE 'bridge|host|none|' | sort -u | paste -sd' ' || true)"
    # shellcheck disable=SC2086
    apps="$(timeout 20 docker inspect -f '{{index .Config.Labels "deploy-agent.app"}}' $OWN_CONTAINERS || true)"
  fi
  for app in $( (echo "$apps"; state_field apps) | sort -u); do
    OWN_IMAGES="$OWN_IMAGES $(timeout 20 docker images --filter "reference=deploy-agent/$app:gen-*" --format '{{.Repository}}:{{.Tag}}' | paste -sd' ' || true)"
  done
  # shellcheck disable=SC2086 # squeezes the spaces
  OWN_IMAGES="$(echo $OWN_IMAGES)"
  return 0
}

# --purge at a terminal: offers each thing --uninstall keeps, one question each. Without a terminal
# nothing is asked and nothing more is removed: an app container may still serve.
offer_purge() {
  if [[ ! -t 0 ]]; then
    say "--purge removes nothing else without a terminal to ask at (containers may still serve); what is kept is listed below"
    return 0
  fi
  local containers images networks c found=0
  own_things || found=$?
  [[ $found -eq 1 ]] && say "no agent identity in $STATE_DIR/state.json: its containers, images and networks cannot be told from others', so none is offered"
  containers="$OWN_CONTAINERS" images="$OWN_IMAGES" networks="$OWN_NETWORKS"
  # shellcheck disable=SC2086 # one name per word
  {
    [[ -n "$containers" ]] && ask "remove the app containers $containers? They stop serving now" && docker rm -f $containers >/dev/null
    [[ -n "$images" ]] && ask "remove the rollback images $images? No rollback is possible after" && docker rmi $images >/dev/null
    for c in $networks; do
      ask "remove network $c?" && { docker network rm "$c" >/dev/null || warn "network $c not removed: another container (Traefik?) still uses it"; }
    done
    [[ -d "$STATE_DIR" ]] && ask "remove $STATE_DIR, the deploy history?" && rm -rf "$STATE_DIR"
    getent passwd "$SERVICE_USER" >/dev/null && ask "remove the user and group $SERVICE_USER?" \
      && userdel "$SERVICE_USER" && { ! getent group "$SERVICE_USER" >/dev/null || groupdel "$SERVICE_USER"; }
  } || true
}

do_uninstall() {
  if systemd_running; then
    if systemctl cat "$UNIT_NAME" >/dev/null 2>&1; then
      say "stopping and disabling $UNIT_NAME"
      systemctl disable --now "$UNIT_NAME" >/dev/null 2>&1 || warn "systemctl disable --now $UNIT_NAME failed"
    fi
  fi
  leave_docker_group
  rm -f "$UNIT"
  if systemd_running; then
    systemctl daemon-reload
    systemctl reset-failed "$UNIT_NAME" >/dev/null 2>&1 || true
  fi
  rm -rf "$PREFIX"
  if [[ -f "$COMPLETION_FILE" ]] && head -n 1 "$COMPLETION_FILE" | grep -qF "$COMPLETION_MARK"; then
    rm -f "$COMPLETION_FILE"
  fi
  local name
  for name in agentctl deploy-agent; do
    if [[ -f "$BIN_DIR/$name" ]] && grep -qxF "$WRAPPER_MARK" "$BIN_DIR/$name"; then
      rm -f "$BIN_DIR/$name"
    fi
  done
  if [[ "$PURGE" -eq 1 ]]; then
    say "removing $CONF_DIR"
    rm -rf "$CONF_DIR"
    offer_purge
  fi
  report_kept
  say "uninstalled"
}

UNINSTALL=0
PURGE=0
NO_BUILD=0
ARCH=unknown

main() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --uninstall) UNINSTALL=1 ;;
      --purge) PURGE=1 ;;
      --no-build) NO_BUILD=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
  done
  [[ "$PURGE" -eq 0 || "$UNINSTALL" -eq 1 ]] || die "--purge only goes with --uninstall"
  [[ $EUID -eq 0 ]] || die "run as root (sudo ./install.sh)"

  if [[ "$UNINSTALL" -eq 1 ]]; then
    do_uninstall
  else
    do_install
  fi
}

# Sourced (as test/systemd does, to run one step alone), it only defines the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
