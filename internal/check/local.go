package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/passkdc/passkdc/internal/storeopen"
	"github.com/passkdc/passkdc/keytabs"
)

// tls checks the configured certificate: loadable with its key, valid now
// and for two more weeks, covering rp_id and every origin's host.
func (r *run) tls() {
	c := r.cfg.TLS
	if c.Cert == "" {
		r.ok("tls", "no tls.cert: serve generates a self-signed certificate (clients need it as --ca-file)")
		return
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		r.fail("tls", true, fmt.Sprintf("tls.cert/tls.key cannot be loaded: %v", err), "point tls.cert and tls.key at a PEM certificate and its private key")
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		r.fail("tls", true, fmt.Sprintf("tls.cert: %v", err), "replace tls.cert with a valid X.509 certificate")
		return
	}
	now := r.o.Now()
	switch {
	case now.After(leaf.NotAfter):
		r.fail("tls", true, fmt.Sprintf("tls.cert expired on %s", leaf.NotAfter.Format(time.DateOnly)), "renew the certificate in tls.cert")
		return
	case now.Before(leaf.NotBefore):
		r.fail("tls", true, fmt.Sprintf("tls.cert is not valid before %s", leaf.NotBefore.Format(time.RFC3339)), "check the clock, or use a certificate valid now")
		return
	}
	var uncovered []string
	for _, host := range r.tlsHosts() {
		if leaf.VerifyHostname(host) != nil {
			uncovered = append(uncovered, host)
		}
	}
	if len(uncovered) > 0 {
		r.fail("tls", true, fmt.Sprintf("tls.cert does not cover %s (browsers and passkinit will refuse it)", strings.Join(uncovered, ", ")),
			"issue tls.cert with a subjectAltName for rp_id and every origin's host")
		return
	}
	if left := leaf.NotAfter.Sub(now); left < 14*24*time.Hour {
		r.fail("tls", false, fmt.Sprintf("tls.cert expires in %s (%s)", left.Round(time.Hour), leaf.NotAfter.Format(time.DateOnly)), "renew the certificate in tls.cert")
		return
	}
	r.ok("tls", "tls.cert covers %s, valid until %s", strings.Join(r.tlsHosts(), ", "), leaf.NotAfter.Format(time.DateOnly))
}

// tlsHosts are rp_id and the origins' hosts, each once.
func (r *run) tlsHosts() []string {
	var hosts []string
	seen := map[string]bool{}
	add := func(h string) {
		if h != "" && !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	add(r.cfg.RPID)
	for _, o := range r.cfg.Origins {
		if u, err := url.Parse(o); err == nil {
			add(u.Hostname())
		}
	}
	return hosts
}

// origins checks that every origin's port is the one passkdc listens on: a
// browser at another port produces assertions that passkdc refuses.
func (r *run) origins() {
	_, listenPort, err := net.SplitHostPort(r.cfg.Listen)
	if err != nil {
		r.fail("origins", true, fmt.Sprintf("listen %q is not host:port", r.cfg.Listen), "set listen to host:port")
		return
	}
	var wrong []string
	for _, o := range r.cfg.Origins {
		u, err := url.Parse(o)
		if err != nil {
			continue // the config validation already refuses it
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
		if port != listenPort {
			wrong = append(wrong, fmt.Sprintf("%s (port %s)", o, port))
		}
	}
	if len(wrong) > 0 {
		r.fail("origins", false, fmt.Sprintf("origins on another port than listen (%s): %s", r.cfg.Listen, strings.Join(wrong, ", ")),
			"make each origin's port the listen port, unless a reverse proxy in front of passkdc serves that origin")
		return
	}
	r.ok("origins", "%d origin(s) on port %s, rp_id %s", len(r.cfg.Origins), listenPort, r.cfg.RPID)
}

// store checks that the store opens (and so is migrated) and answers.
func (r *run) store(ctx context.Context) {
	if err := sqliteWritable(r.cfg.Store); err != nil {
		r.fail("store", true, err.Error(),
			"make the store file and its directory writable by the user passkdc runs as (chown passkdc, chmod u+w)")
		return
	}
	st, err := storeopen.Open(ctx, r.cfg.Store, nil)
	if err != nil {
		r.fail("store", true, fmt.Sprintf("the store cannot be opened: %v", err),
			"check the store key: a writable SQLite path for the passkdc user, or a reachable postgres:// URL")
		return
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		r.fail("store", true, fmt.Sprintf("the store does not answer: %v", err), "check the database server and the store key")
		return
	}
	r.ok("store", "%s is writable, opens, is migrated and answers", redactDSN(r.cfg.Store))
}

// sqliteWritable checks that this process may write a SQLite store and
// create its journal beside it: SQLite opens a file it may not write
// read-only, without a word, and the first sign-in would fail.
func sqliteWritable(dsn string) error {
	if storeopen.IsURL(dsn) {
		return nil
	}
	for _, p := range []string{dsn, filepath.Dir(dsn)} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) && p == dsn {
			continue // created at first open, if the directory is writable
		}
		if err := unix.Access(p, unix.W_OK); err != nil {
			return fmt.Errorf("store %s: %s is not writable by this user: %w", dsn, p, err)
		}
	}
	return nil
}

// keytab checks the RODC keytab: present, 0600, holding krbtgt_N keys of
// this realm.
func (r *run) keytab() {
	kt, err := keytabs.Load(r.cfg.Keytab)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.fail("keytab", true, fmt.Sprintf("keytab %s does not exist", r.cfg.Keytab),
			"provision the RODC (passkdc rodc provision), export its krbtgt_N key and passkdc keytab import it")
		return
	case err != nil:
		r.fail("keytab", true, err.Error(), "fix the keytab file named by the keytab key (chmod 600, owned by the passkdc user)")
		return
	}
	for _, e := range kt.Entries {
		n, _ := keytabs.SplitKVNO(e.KVNO)
		comps := e.Principal.Components
		if n == 0 || len(comps) != 1 || !strings.HasPrefix(strings.ToLower(comps[0]), "krbtgt_") || !strings.EqualFold(e.Principal.Realm, r.cfg.Realm) {
			continue
		}
		ks, err := kt.KeySet(e.Principal)
		if err != nil {
			r.fail("keytab", true, err.Error(), "re-import the RODC key with passkdc keytab import")
			return
		}
		r.keytabNumber = ks.RODCNumber()
		_, r.keytabVersion = keytabs.SplitKVNO(ks.CurrentKVNO())
		r.ok("keytab", "%s: %s, RODC number %d, key version %d", r.cfg.Keytab, e.Principal, r.keytabNumber, r.keytabVersion)
		return
	}
	r.fail("keytab", true, fmt.Sprintf("keytab %s holds no krbtgt_N key of realm %s", r.cfg.Keytab, r.cfg.Realm),
		"export the RODC's krbtgt_N key and passkdc keytab import it into this file")
}

// redactDSN hides a password in a postgres:// URL.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// kerberos checks kerberos.keytab when the kerberos section is set: present,
// private (0600), holding an AES key of kerberos.spn at its newest version.
func (r *run) kerberos() {
	k := r.cfg.Kerberos
	if k.Keytab == "" {
		return
	}
	const name = "kerberos"
	kt, err := keytabs.Load(k.Keytab)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.fail(name, true, fmt.Sprintf("kerberos.keytab %s does not exist", k.Keytab),
			"run passkdc rodc http-spn --host <passkdc's host> --keytab "+k.Keytab+", or point kerberos.keytab at its keytab")
		return
	case err != nil:
		r.fail(name, true, fmt.Sprintf("kerberos.keytab: %v", err),
			"fix the file named by kerberos.keytab: chmod 600, owned by the passkdc user (passkdc rodc http-spn writes it so)")
		return
	}
	p, err := keytabs.ParsePrincipal(k.SPN + "@" + r.cfg.Realm)
	if err != nil {
		r.fail(name, true, fmt.Sprintf("kerberos.spn %q: %v", k.SPN, err), "set kerberos.spn to HTTP/<passkdc's host>")
		return
	}
	ks, err := kt.KeySet(p)
	if err != nil {
		r.fail(name, true, fmt.Sprintf("kerberos.keytab %s holds no key of kerberos.spn %s", k.Keytab, p),
			"set kerberos.spn to the SPN passkdc rodc http-spn printed, or run it with --host "+strings.TrimPrefix(k.SPN, "HTTP/")+" --keytab "+k.Keytab)
		return
	}
	if _, err := ks.CurrentAES(); err != nil {
		r.fail(name, true, fmt.Sprintf("kerberos.keytab %s holds no AES key of %s at version %d (RC4 is refused)", k.Keytab, p, ks.CurrentKVNO()),
			"run passkdc rodc http-spn --host "+strings.TrimPrefix(k.SPN, "HTTP/")+" --keytab "+k.Keytab+" (AES keys only)")
		return
	}
	r.httpKVNO = ks.CurrentKVNO()
	r.ok(name, "%s: %s, key version %d, AES", k.Keytab, p, r.httpKVNO)
}
