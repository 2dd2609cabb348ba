#!/usr/bin/env bash
# Build (once) and cache a Debian trixie chroot holding Samba 4.22: the second DC generation the
# integration harness (integration/samba, Options.Generation "4.22") starts DCs from.
#
# Usage: integration/scripts/samba422-chroot.sh [ROOT]      (as root; ROOT default below)
#   Env: PASSKDC_SAMBA422_ROOT   chroot directory (default /var/cache/passkdc/samba422-trixie)
#        PASSKDC_DEBIAN_MIRROR   Debian mirror for debootstrap (default: the first URI of this machine's
#                                apt sources, so the chroot comes from the same place as the host's packages)
#
# Cache: ROOT/.passkdc-chroot-key holds the cache key (suite + package list + this script's recipe
# version). When the key matches and ROOT/usr/sbin/samba exists, nothing is done (a few ms). Otherwise
# the chroot is built in ROOT.build and moved to ROOT only when complete, so an interrupted build never
# leaves a half chroot that looks cached. Prints ROOT on success; exits non-zero with the step that failed.
#
# Needs debootstrap (installed by install-deps.sh) and Debian's packages.
set -euo pipefail

SUITE=trixie
# Packages inside the chroot. debootstrap's --include cannot resolve python3-cryptography's virtual
# dependency (python3-cffi-backend-api-*), so they are installed with apt inside the chroot.
#   samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules python3-samba winbind:
#        the AD DC, samba-tool and the ldb modules (as on the host, install-deps.sh)
#   python3-cffi-backend  provides the virtual package python3-cryptography needs
#   libnss-wrapper, libresolv-wrapper
#                         samba runs with both preloaded, as on the host (integration/samba sambaEnv)
#   ldb-tools             ldbsearch into sam.ldb when debugging a failing test
#   openssl               re-issues the stock LDAPS certificate with a negative serial (StockTLS)
PKGS="python3-cffi-backend samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules python3-samba winbind libnss-wrapper libresolv-wrapper ldb-tools openssl"
RECIPE=1
KEY="suite=$SUITE recipe=$RECIPE pkgs=$PKGS"

ROOT=${1:-${PASSKDC_SAMBA422_ROOT:-/var/cache/passkdc/samba422-trixie}}
STAMP=$ROOT/.passkdc-chroot-key

if [ -x "$ROOT/usr/sbin/samba" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  echo "$ROOT"
  exit 0
fi

fail() { echo "samba422-chroot: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed; run integration/scripts/install-deps.sh"

# One build at a time (test packages run in parallel and may all ask); whoever waited finds it built.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -w 1200 9 || fail "another build of $ROOT holds $ROOT.lock for more than 20 minutes"
if [ -x "$ROOT/usr/sbin/samba" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  echo "$ROOT"
  exit 0
fi

MIRROR=${PASSKDC_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v -- '-security' | head -n1 || true)
  [ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$MIRROR" ] || fail "no Debian mirror found in /etc/apt sources; set PASSKDC_DEBIAN_MIRROR"
fi

BUILD=$ROOT.build
LOG=$(dirname "$ROOT")/samba422-chroot.log
: > "$LOG"
mounts_below() { awk -v r="$1" '$2==r || index($2, r"/")==1 {print $2}' /proc/mounts; }
unmount_all() { # every mount below $1 (/proc, /dev, DC directories bound by the harness), deepest first
  mounts_below "$1" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
remove_tree() { # never through a mount: a bound /dev or DC directory would be deleted on the host
  unmount_all "$1"
  [ -z "$(mounts_below "$1")" ] || fail "cannot unmount everything below $1: $(mounts_below "$1" | tr '\n' ' ')"
  rm -rf --one-file-system "$1"
}
remove_tree "$BUILD"
mkdir -p "$BUILD"
trap 'unmount_all "$BUILD"' EXIT

echo "samba422-chroot: building $SUITE chroot in $BUILD from $MIRROR (log: $LOG)" >&2
t0=$SECONDS
# debootstrap may report an error for a package whose postinst does not run in a container's
# restricted /dev or /proc; the apt step below repairs those (install -f), and the check at the end
# decides whether the chroot is usable.
if ! debootstrap --variant=minbase "$SUITE" "$BUILD" "$MIRROR" >>"$LOG" 2>&1; then
  [ -x "$BUILD/usr/bin/apt-get" ] || fail "debootstrap failed (see $LOG)"
  echo "samba422-chroot: debootstrap reported an error; repairing with apt (see $LOG)" >&2
fi
mount -t proc proc "$BUILD/proc"
cp /etc/resolv.conf "$BUILD/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' > "$BUILD/usr/sbin/policy-rc.d"   # no service starts inside the chroot
chmod 0755 "$BUILD/usr/sbin/policy-rc.d"
if ! chroot "$BUILD" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
    "apt-get update && apt-get install -y -f && apt-get install -y --no-install-recommends $PKGS && apt-get clean" >>"$LOG" 2>&1; then
  fail "apt inside the chroot failed (see $LOG)"
fi
[ -x "$BUILD/usr/sbin/samba" ] || fail "samba is missing from the chroot after the install (see $LOG)"
chroot "$BUILD" /usr/sbin/samba --version >>"$LOG" 2>&1 || fail "samba in the chroot does not run (see $LOG)"
echo "$KEY" > "$BUILD/.passkdc-chroot-key"
unmount_all "$BUILD"
trap - EXIT
remove_tree "$ROOT"
mv "$BUILD" "$ROOT"
echo "samba422-chroot: built in $((SECONDS - t0)) s: $(chroot "$ROOT" /usr/sbin/samba --version)" >&2
echo "$ROOT"
