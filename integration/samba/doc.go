// Package samba runs throw-away Samba AD domain controllers on loopback
// addresses for integration tests and demos.
//
// A DC is provisioned with the Debian samba packages (samba-tool run by
// /usr/bin/python3), keeps all of its state under one directory, binds only
// the loopback address it is given, and is stopped by killing every process
// it started. Nothing under /etc is modified: clients reach the DC through the
// environment returned by [DC.ClientEnv] (a private krb5.conf, and
// nss_wrapper/resolv_wrapper so that dc1.corp.example.test resolves to the
// DC's address).
//
// # One domain per test package
//
// Provisioning and starting a DC takes 10-20 s, so a test package shares one
// DC among its tests. The DC is started lazily by the first test that asks
// for it, so unit and fuzz tests in the same package never start one, and it
// is stopped when m.Run returns:
//
//	var shared = samba.NewShared(samba.Options{IP: "127.0.0.10"})
//
//	func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		dc := shared.DC(t) // skips (or fails when CI=true) if Samba is not installed
//		...
//	}
//
// Give every test package its own loopback address: go test runs packages
// in parallel, and two DCs cannot share an address (integration/samba's own
// tests use 127.0.0.10 and 127.0.0.11, package integration 127.0.0.12, ldapsync
// 127.0.0.13). Start takes a per-address lock, so two harnesses asking
// for the same address run one after the other instead of colliding.
//
// If the test binary dies (a panic in a test goroutine, a go test timeout,
// SIGKILL), samba notices that its standard input, a pipe held by the test
// process, was closed and terminates itself and its children.
//
// A test that needs its own DC calls [Start] and registers
// t.Cleanup(func() { dc.Stop() }).
//
// # Template cache
//
// With Options.CacheDir set (for example from $PASSKDC_SAMBA_CACHE via
// [CacheDirFromEnv]), the first Start provisions into the cache and every
// Start copies that tree (cp -a, keeping sysvol's xattr ACLs) and rewrites
// the paths in its smb.conf: about 0.1 s instead of 7-15 s. Copies share the
// domain SID and keys, which is harmless for tests. Entries are keyed by
// realm, domain, host, administrator password and samba version, and are
// remade after 7 days.
//
// # Generations
//
// Options.Generation (or $PASSKDC_SAMBA_GENERATION) picks the Samba that runs
// the DC: the host's Debian packages (GenerationHost, 4.17 on Debian 12) or
// Samba 4.22 from Debian trixie (Generation422) in a chroot that
// integration/scripts/samba422-chroot.sh builds with debootstrap and caches.
// For the chroot, samba and samba-tool run through chroot(8) and the DC's
// directory is bind-mounted at the same path inside, so every path is the
// same on both sides; client tools always run on the host. [Shared.DC] and
// [PrepareGeneration] build a missing chroot first; [RequireGeneration]
// skips (or fails when CI=true) without debootstrap. See docs/dc-generations.md.
//
// # Stock certificate
//
// Options.StockTLS keeps the LDAPS certificate Samba generates itself (no
// subjectAltName) and makes its serial negative, re-issuing it when Samba
// drew a positive one; the harness's own connections then pin it.
//
// # Tools
//
// The harness needs samba, samba-tool, kinit, smbclient, ldapmodify, ip,
// libnss_wrapper and libresolv_wrapper, and root. Tests call [Require] (or
// use [Shared.DC], which calls it): a missing tool skips the test, or fails
// it when CI=true. Tests never install anything; integration/scripts/install-deps.sh
// does.
package samba
