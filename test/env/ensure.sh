#!/usr/bin/env bash
# Brings up what the integration and story tests need on one Debian 12 host, run as root:
# Docker Engine (docker.io), the distribution registry on 127.0.0.1:5000, static busybox for the
# fixture images, skopeo, faketime (libfaketime, for the wall-clock jump story), zsh and fish (the
# completion tests parse and run agentctl's scripts in them). Idempotent:
# whatever already runs is left alone. No TTY needed.
set -euo pipefail

REGISTRY_ADDR="127.0.0.1:5000"
REGISTRY_STORAGE="/tmp/deploy-agent-test-registry"
REGISTRY_LOG="/tmp/deploy-agent-test-registry.log"
DOCKERD_LOG="/tmp/deploy-agent-dockerd.log"
PACKAGES=(docker.io docker-registry busybox-static skopeo faketime zsh fish)
WAIT_S=60

say() { printf 'ensure: %s\n' "$*"; }
die() { printf 'ensure: FAILED: %s\n' "$*" >&2; exit 1; }

package_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Without systemd as PID 1, docker.io's postinst runs `invoke-rc.d docker start || exit 1`, which
# fails in a bare container and would fail the install; a policy-rc.d answering 101 ("action
# forbidden") makes it skip service starts. We start dockerd and the registry ourselves below.
install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do package_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then
    say "packages present: ${PACKAGES[*]}"
    return
  fi
  [[ $EUID -eq 0 ]] || die "packages missing (${missing[*]}) and not root; run as root or install them"
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -d /run/systemd/system && ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
  fi
  say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
  local rc=0
  { apt-get update -q && apt-get install -y -q "${PACKAGES[@]}"; } </dev/null || rc=$?
  ((added_policy)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get exited $rc while installing ${PACKAGES[*]}"
  for p in "${PACKAGES[@]}"; do package_installed "$p" || die "package $p still not installed after apt-get"; done
}

docker_up() { timeout 10 docker info >/dev/null 2>&1; }

ensure_docker() {
  if docker_up; then
    say "docker engine answers"
    return
  fi
  command -v dockerd >/dev/null || die "dockerd not found although docker.io is installed"
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local deadline=$((SECONDS + WAIT_S))
  until docker_up; do
    ((SECONDS < deadline)) || die "docker info still failing after ${WAIT_S}s; last lines of $DOCKERD_LOG:
$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)"
    sleep 1
  done
  say "docker engine answers"
}

# Prints the HTTP status code of GET /v2/ on the registry address, or nothing if nothing answers.
# bash's /dev/tcp avoids depending on curl or wget, which a fresh Debian may lack.
registry_status() {
  local host=${REGISTRY_ADDR%:*} port=${REGISTRY_ADDR##*:}
  # shellcheck disable=SC2016 # the inner script expands $1 and $2 itself
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET /v2/ HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$1" "$2" >&3
    IFS=" " read -r _ code _ <&3 && printf "%s" "$code"
  ' _ "$host" "$port" 2>/dev/null || true
}

ensure_registry() {
  local status
  status=$(registry_status)
  if [[ $status == 200 ]]; then
    say "registry answers on $REGISTRY_ADDR"
    return
  fi
  # On a host with systemd, installing docker-registry starts Debian's own instance on :5000 with
  # htpasswd auth (/v2/ → 401). Tests need an open registry with delete enabled, so stop it.
  if [[ -n $status ]] && command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    say "stopping Debian's docker-registry service (answers $status on /v2/, tests need an open registry)"
    systemctl stop docker-registry
    status=$(registry_status)
  fi
  [[ -z $status ]] || die "something on $REGISTRY_ADDR answers /v2/ with HTTP $status, not 200; free the port or stop it"
  command -v docker-registry >/dev/null || die "docker-registry not found although the package is installed"

  local confdir
  confdir=$(mktemp -d /tmp/deploy-agent-test-registry-conf.XXXXXX)
  mkdir -p "$REGISTRY_STORAGE"
  cat >"$confdir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  say "starting docker-registry on $REGISTRY_ADDR (config: $confdir/config.yml, log: $REGISTRY_LOG)"
  setsid nohup docker-registry serve "$confdir/config.yml" >>"$REGISTRY_LOG" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + WAIT_S))
  until [[ $(registry_status) == 200 ]]; do
    kill -0 "$pid" 2>/dev/null || die "docker-registry exited during start; last lines of $REGISTRY_LOG:
$(tail -n 20 "$REGISTRY_LOG" 2>/dev/null)"
    ((SECONDS < deadline)) || die "registry on $REGISTRY_ADDR not answering /v2/ after ${WAIT_S}s; see $REGISTRY_LOG"
    sleep 0.5
  done
  say "registry answers on $REGISTRY_ADDR"
}

install_packages
ensure_docker
ensure_registry
[[ -x /usr/bin/busybox ]] || die "/usr/bin/busybox missing; the fixture images copy it (package busybox-static)"
say "ready"
