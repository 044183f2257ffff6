#!/usr/bin/env bash
# Starts building the systemd tests' image (make-rootfs.sh) in the background, so that its
# debootstrap, which mostly waits on the Debian mirror, overlaps the build and the unit tests
# instead of holding up the first systemd test file by minutes. It builds under the lock that
# booted.ts takes before building the image itself: a test that needs the image waits for this
# build, and builds again, with make-rootfs.sh's error, if this one failed. Never fails itself.
set -uo pipefail
cd "$(dirname "$0")/../.."
LOCK=/tmp/deploy-agent-rootfs.lock
LOG=.test-run/rootfs.log
TAG="${DEPLOY_AGENT_SYSTEMD_IMAGE:-deploy-agent-test/systemd-trixie:1}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "rootfs: $TAG is present"
  exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v flock >/dev/null; then
  echo "rootfs: not built ahead (that needs root and flock); the systemd tests build $TAG when they start"
  exit 0
fi
mkdir -p .test-run
setsid flock "$LOCK" bash test/systemd/make-rootfs.sh "$TAG" >"$LOG" 2>&1 </dev/null &
echo "rootfs: building $TAG in the background, under $LOCK (log: $LOG)"
