#!/usr/bin/env bash
# Install the Debian packages the integration tests need (Samba AD DC, MIT
# Kerberos clients, OpenLDAP clients, nss/resolv wrappers). Idempotent: when
# every package is already installed, apt is not run at all.
#
# Usage: integration/scripts/install-deps.sh      (as root, or with sudo available)
#        INSTALL_DEPS_FORCE=1 ...                 run apt even if everything is present
#
# Why each package:
#   samba, winbind            samba (AD DC), smbd, winbindd started by samba
#   samba-dsdb-modules        the ldb modules sam.ldb is built from
#   samba-ad-provision        /usr/share/samba/setup, read by `samba-tool domain provision`
#   samba-vfs-modules         vfs objects (acl_xattr, dfs_samba4) of the sysvol/netlogon shares
#   python3-samba             samba-tool (run with /usr/bin/python3)
#   ldb-tools                 ldbsearch/ldbmodify for looking into sam.ldb when debugging
#   krb5-user                 MIT kinit, klist, kvno
#   krb5-k5tls                MIT's TLS module: kdc = https://…/KdcProxy (the KDC proxy tests)
#   python3-kdcproxy          Python's KDC proxy (FreeIPA's), the second implementation the interop test compares with
#   smbclient                 SMB client for end-to-end checks
#   ldap-utils                ldapsearch, ldapmodify, ldapadd
#   libnss-wrapper, libresolv-wrapper
#                             name resolution without editing /etc/hosts; smbd's winbindd socket
#   iproute2                  `ip addr add 127.0.0.N/32 dev lo` for DCs on several loopback addresses
#   slapd                     OpenLDAP server for the RFC 2307 sync tests (memberOf, ppolicy overlays)
#   krb5-kdc                  MIT krb5kdc, the reference the benchmark measures sign-ins against
#   krb5-admin-server         kadmin.local, which creates the MIT reference realm's principals
#   systemd, adduser          systemd-analyze verifies the packaged unit; adduser for the package's postinst
#   openssl                   makes DC-style certificates (negative serials) in integration/ops
#   python3-pyasn1            Samba's python PAC verifier (kdc TestSambaDecodes*) imports it
#   postgresql                PostgreSQL server (initdb, postgres) for the store/postgres conformance tests
#   curl                      curl --negotiate (GSS-API/SPNEGO) on the registration API: Kerberos enrolment
#   chromium, fonts-liberation
#                             headless browser (WebAuthn virtual authenticator) for the web page tests
#   debootstrap               builds the Debian trixie chroot with Samba 4.22, the second DC generation
#                             (integration/scripts/samba422-chroot.sh, run by scripts/test and lazily by the harness)
set -euo pipefail

PACKAGES=(
  samba winbind samba-dsdb-modules samba-ad-provision samba-vfs-modules
  python3-samba ldb-tools krb5-user krb5-k5tls python3-kdcproxy smbclient ldap-utils
  libnss-wrapper libresolv-wrapper iproute2
  slapd krb5-kdc krb5-admin-server python3-pyasn1 systemd adduser openssl postgresql curl chromium fonts-liberation
  debootstrap
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${PACKAGES[@]}"; do
  if [ "${INSTALL_DEPS_FORCE:-}" = 1 ] || ! installed "$p"; then missing+=("$p"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo)" >&2; exit 1; }
  SUDO=(sudo)
fi

# The packages' maintainer scripts would start system smbd/nmbd/samba-ad-dc
# services bound to every address, which would collide with the tests' DCs.
# Deny service starts during the install unless a policy is already in place
# (container images usually ship one), and remove ours afterwards.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from integration/scripts/install-deps.sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
  trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

for p in "${PACKAGES[@]}"; do
  installed "$p" || { echo "install-deps: $p did not install" >&2; exit 1; }
done
echo "install-deps: done in ${SECONDS}s"
