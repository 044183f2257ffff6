#!/usr/bin/env bash
# Builds the Docker image that test/systemd/systemd.test.ts boots with /sbin/init: a minimal Debian
# trixie (systemd 257, Node 20 from Debian) made with debootstrap and `docker import`ed. The rootfs
# lives only in Docker; nothing large is written to the repository.
#
# Usage: test/systemd/make-rootfs.sh [--force] [TAG]     (run as root; needs debootstrap)
#   TAG defaults to $DEPLOY_AGENT_SYSTEMD_IMAGE or deploy-agent-test/systemd-trixie:1.
#   Without --force an existing image with that tag is kept (exit 0).
#   The Debian mirror is the first one apt on this host uses (/etc/apt/sources.list*), or $DEBIAN_MIRROR.
set -euo pipefail

FORCE=0
if [[ "${1:-}" == "--force" ]]; then FORCE=1; shift; fi
TAG="${1:-${DEPLOY_AGENT_SYSTEMD_IMAGE:-deploy-agent-test/systemd-trixie:1}}"
SUITE=trixie
PACKAGES=systemd,systemd-sysv,dbus,nodejs,ca-certificates,procps,iproute2
# Installed by apt inside the chroot afterwards: debootstrap's resolver ignores "Provides:", which
# npm's dependencies in trixie rely on ("npm depends on node-cli-table3 … not installed").
# docker-cli: install.sh checks that the Engine answers through the CLI; the test bind-mounts the
# host's docker.sock, so the image must not ship (or let install.sh start) a dockerd of its own.
APT_PACKAGES=(npm docker-cli)

die() { echo "make-rootfs: $*" >&2; exit 1; }

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "make-rootfs: $TAG already present; pass --force to rebuild"
  exit 0
fi

[[ $EUID -eq 0 ]] || die "debootstrap needs root; run as root (or build the image elsewhere and tag it $TAG)"
if ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || die "debootstrap is missing and apt-get is not available to install it"
  echo "make-rootfs: installing debootstrap with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The first Debian package mirror apt already uses (deb822 "URIs:" or one-line "deb URL suite"),
# skipping the security archive: on the test hosts only Debian's mirror is reachable.
find_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    awk '
      /^[[:space:]]*#/ { next }
      /^URIs:/ { for (i = 2; i <= NF; i++) print $i; next }
      /^deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }
    ' "$f"
  done | grep -E '/debian/?$' | grep -v -- '-security' | head -n1
}
MIRROR="${DEBIAN_MIRROR:-$(find_mirror || true)}"
[[ -n "$MIRROR" ]] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR=http://deb.debian.org/debian"
MIRROR="${MIRROR%/}"
curl -fsS -o /dev/null "$MIRROR/dists/$SUITE/Release" \
  || die "$MIRROR has no $SUITE (GET $MIRROR/dists/$SUITE/Release failed); set DEBIAN_MIRROR"

WORK="$(mktemp -d /var/tmp/deploy-agent-rootfs.XXXXXX)"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
ROOT="$WORK/root"

echo "make-rootfs: debootstrap $SUITE from $MIRROR into $ROOT"
start=$SECONDS
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 15 "$WORK/debootstrap.log" >&2
  [[ -f "$ROOT/debootstrap/debootstrap.log" ]] && tail -n 40 "$ROOT/debootstrap/debootstrap.log" >&2
  die "debootstrap failed; its logs are shown above"
}

printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$MIRROR" "$SUITE" >"$ROOT/etc/apt/sources.list.d/debian.sources"
rm -f "$ROOT/etc/apt/sources.list"
echo "make-rootfs: apt-get install ${APT_PACKAGES[*]} inside the rootfs"
{ chroot "$ROOT" apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}"; } \
  >"$WORK/apt.log" 2>&1 || { tail -n 40 "$WORK/apt.log" >&2; die "apt-get install in the rootfs failed"; }
rm -f "$ROOT/usr/sbin/policy-rc.d"

# Container tweaks: no getty on a console nobody reads; an empty machine-id so each boot
# generates its own (systemd treats an empty file as "not yet initialised").
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
for unit in getty.target console-getty.service systemd-firstboot.service systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done
echo deploy-agent-test >"$ROOT/etc/hostname"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

echo "make-rootfs: docker import as $TAG"
tar --numeric-owner --xattrs -C "$ROOT" -c . \
  | docker import --change 'CMD ["/sbin/init"]' --change 'ENV container=docker' - "$TAG" >/dev/null
echo "make-rootfs: built $TAG in $((SECONDS - start))s"
