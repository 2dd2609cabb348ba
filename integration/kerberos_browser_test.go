package integration

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/chrometest"
	"github.com/passkdc/passkdc/internal/testenv"
)

// browserDeployment is a second passkdc serve of the Kerberos enrolment
// fixture whose rp_id and origin are the SPN's host (a browser's WebAuthn
// needs the page's host under rp_id), with its own store.
func (k *kerbEnrol) browserDeployment(t *testing.T) (*kerbEnrol, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := k.Derive(filepath.Join(t.TempDir(), "srv"), func(o *deploy.Options) {
		o.RPHost, o.ExtraYAML = k.host, k.extra
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		t.Fatalf("passkdc sync --full: %v\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		t.Fatalf("serve: %v\n%s", err, d.Log())
	}
	t.Cleanup(func() { _ = d.Stop() })
	b := &kerbEnrol{Deployment: d, f: k.f, host: k.host, keytab: k.keytab, extra: k.extra}
	_, b.port, _ = net.SplitHostPort(d.Listen)
	return b, "https://" + k.host + ":" + b.port
}

// hostsFile is an nss_wrapper hosts file naming the DC and the SPN's host
// (on 127.0.0.1, where the deployments listen).
func (k *kerbEnrol) hostsFile(t *testing.T) string {
	t.Helper()
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte(k.f.dc.IP()+" "+k.f.dc.FQDN()+"\n127.0.0.1 "+k.host+" localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return hosts
}

// spkiPin is the base64 SHA-256 of the certificate's SubjectPublicKeyInfo
// (Chromium's --ignore-certificate-errors-spki-list).
func spkiPin(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// browserEnrol: kbrowser's password logon is MIT kinit against the DC. In
// Chromium the page's Kerberos button signs in: Chromium, with Negotiate
// enabled for passkdc's host, answers the 401 with its own SPNEGO token
// from that cache (GSSAPI). The page shows the
// Kerberos session, registers a passkey on the virtual authenticator
// (rp_id = the SPN's host), the Kerberos session ends, the page signs in
// with the passkey, passkinit --browser signs in with it and kvno works,
// and a new Kerberos sign-in shows the page's sentence with one audit
// record.
func (k *kerbEnrol) browserEnrol(t *testing.T) {
	cc := k.kinit(t, "kbrowser")
	b, base := k.browserDeployment(t)
	// Negotiate is Chromium's own: enabled for the SPN's host, GSSAPI
	// (libgssapi_krb5) reading the kinit cache with the DC's krb5.conf.
	// The SPN's host resolves through nss_wrapper's hosts file, not
	// host-resolver-rules: Chromium would name the mapped address in the
	// SPN (HTTP@127.0.0.1).
	c := chrometest.New(t, chrometest.Options{
		SPKI:  spkiPin(t, b.CAFile),
		Flags: map[string]any{"auth-server-allowlist": k.host},
		Env:   append(k.f.dc.ClientEnv(), "KRB5CCNAME=FILE:"+cc, "NSS_WRAPPER_HOSTS="+k.hostsFile(t)),
	})
	c.WaitNegotiate(k.host)
	c.Open(base + "/")
	c.WaitFor(chrometest.ViewSignIn)
	if chrometest.Eval[bool](c, `document.getElementById("kerberos-card").hidden`) {
		t.Fatal("the page does not offer the Kerberos sign-in with a kerberos section configured")
	}
	c.Shot("kerberos-offered")

	// The page's button sends POST /v1/page/kerberos; passkdc answers 401
	// Negotiate and Chromium answers with its own SPNEGO token.
	c.Click("#kerberos-signin")
	c.WaitFor(chrometest.BusyDone + " && (" + chrometest.ViewAccount + " || " + chrometest.AlertShown + ")")
	if chrometest.Eval[bool](c, chrometest.AlertShown) {
		t.Fatalf("Kerberos sign-in on the page refused: %q\nlog:\n%s", c.Text("#alert"), b.Log())
	}
	if who := c.Text("#who"); !strings.Contains(who, "kbrowser") {
		t.Fatalf("signed in as %q, want kbrowser", who)
	}
	if chrometest.Eval[bool](c, `document.getElementById("kerberos-note").hidden`) {
		t.Fatal("the Kerberos session does not say it ends after the first passkey")
	}
	c.Shot("kerberos-signed-in")

	c.AddPasskey("Browser key")
	c.WaitFor(chrometest.ViewSignIn)
	if got := c.Text("#status"); !strings.Contains(got, "“Browser key” added") {
		t.Fatalf("status %q after adding the first passkey (alert %q)\nlog:\n%s", got, c.Text("#alert"), b.Log())
	}
	if n := c.Credentials(); n != 1 {
		t.Fatalf("the virtual authenticator holds %d passkeys, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := b.Passkdc(ctx, "cred", "list", "kbrowser"); err != nil || !strings.Contains(out, "Browser key") {
		t.Fatalf("passkdc cred list kbrowser: %v\n%s", err, out)
	}
	c.Shot("kerberos-passkey-added")

	c.Click("#passkey-signin")
	c.WaitFor(chrometest.ViewAccount + " && " + chrometest.CredCount(1))
	if !chrometest.Eval[bool](c, `document.getElementById("kerberos-note").hidden`) {
		t.Fatal("a passkey session shows the Kerberos note")
	}
	c.Shot("passkey-signed-in")
	k.browserPasskinit(t, b, c, base)

	c.Open(base + "/") // back from passkinit's loopback page, still signed in
	c.WaitFor(chrometest.ViewAccount + " && " + chrometest.BusyDone)
	c.Click("#signout")
	c.WaitFor(chrometest.ViewSignIn)
	c.Click("#kerberos-signin")
	c.WaitFor(chrometest.BusyDone + " && " + chrometest.AlertShown)
	want := "You already have a passkey. Sign in with it, or with a temporary access pass, to add another."
	if got := c.Text("#alert"); got != want {
		t.Fatalf("Kerberos sign-in with a passkey: alert %q, want %q", got, want)
	}
	c.Shot("kerberos-passkey-exists")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && b.pageRefusals("kbrowser") < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.pageRefusals("kbrowser"); n != 1 {
		t.Fatalf("%d page.signin refusals kerberos_passkey_exists for kbrowser, want 1", n)
	}
}

// browserPasskinit: `passkinit --browser --open` for kbrowser against the
// SPN host (nss_wrapper maps it to loopback for passkinit, Go's cgo
// resolver reads it); Chromium signs in on the sign-in page with the passkey
// the Kerberos session enrolled, passkinit exchanges the partial TGT at the
// DC and kvno gets a service ticket with it.
func (k *kerbEnrol) browserPasskinit(t *testing.T, b *kerbEnrol, c *chrometest.Chrome, base string) {
	t.Helper()
	dir := t.TempDir()
	hosts := k.hostsFile(t)
	urlFile := filepath.Join(dir, "opened-url")
	opener := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(opener, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed.cc")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	env := append(k.f.clientEnv(filepath.Join(dir, "not-this-one")), "NSS_WRAPPER_HOSTS="+hosts, "GODEBUG=netdns=cgo", "BROWSER="+opener)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := run(ctx, env, b.Bin.Passkinit, "--server", base, "--ca-file", b.CAFile, "--browser", "--open",
			"--timeout", "60s", "-c", "FILE:"+signed, "kbrowser")
		done <- result{out, err}
	}()
	var signinURL string
	for deadline := time.Now().Add(30 * time.Second); signinURL == "" && time.Now().Before(deadline); {
		select {
		case r := <-done:
			t.Fatalf("passkinit --browser ended before opening the browser: %v\n%s", r.err, r.out)
		case <-time.After(50 * time.Millisecond):
		}
		if b, err := os.ReadFile(urlFile); err == nil {
			signinURL = strings.TrimSpace(string(b))
		}
	}
	if !strings.HasPrefix(signinURL, base+"/signin?") {
		t.Fatalf("passkinit opened %q, want %s/signin?…", signinURL, base)
	}
	c.Open(signinURL)
	c.Shot("passkinit-signin")
	c.Click("#go")
	c.WaitFor(`location.hostname === "127.0.0.1" && document.body.innerText.includes("Signed in")`)
	r := <-done
	if r.err != nil {
		t.Fatalf("passkinit --browser: %v\n%s\nlog:\n%s", r.err, r.out, b.Log())
	}
	svc := "cifs/" + k.f.dc.FQDN()
	if out, err := run(ctx, k.f.clientEnv(signed), testenv.RequireTool(t, "kvno"), svc); err != nil {
		t.Fatalf("kvno %s with the browser sign-in's ticket: %v\n%s", svc, err, out)
	}
}
