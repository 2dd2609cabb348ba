package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc"
)

// kerbEnrol is a passkdc with Kerberos enrolment: `passkdc rodc http-spn`
// gave it HTTP/<host> and a keytab, its config has the kerberos section and
// a profile whose enrol_with lists kerberos for the members of one group.
type kerbEnrol struct {
	*deploy.Deployment
	f      *fixture
	host   string // passkdc.<realm>, the SPN's host
	port   string
	keytab string
	spnOut string
	extra  string // the kerberos and profiles sections of its config
}

func kerberosEnrolment(t *testing.T) *kerbEnrol {
	t.Helper()
	f := domain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k := &kerbEnrol{f: f, host: "passkdc." + strings.ToLower(f.dc.Realm()), keytab: filepath.Join(dir, "http.keytab")}
	out, err := f.Directory(ctx, "rodc", "http-spn", "--host", k.host, "--keytab", k.keytab)
	if err != nil {
		t.Fatalf("passkdc rodc http-spn: %v\n%s", err, out)
	}
	k.spnOut = out
	group, err := f.dc.CreateGroup(ctx, "Kerberos Enrolment")
	if err != nil {
		t.Fatal(err)
	}
	quick, err := f.dc.CreateGroup(ctx, "Kerberos Enrolment Fresh")
	if err != nil {
		t.Fatal(err)
	}
	allowed := "CN=Allowed RODC Password Replication Group,CN=Users," + f.dc.BaseDN()
	for name, groups := range map[string][]string{"kenrol": {allowed, group.DN}, "kagain": {allowed, group.DN},
		"kdisabled": {allowed, group.DN}, "knotallowed": {allowed}, "kstale": {allowed, quick.DN},
		"kpage": {allowed, group.DN}, "kbrowser": {allowed, group.DN}} {
		u, err := f.dc.CreateUser(ctx, name, f.password)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if err := f.dc.AddMember(ctx, g, u.DN); err != nil {
				t.Fatal(err)
			}
		}
		f.users[name] = u
	}
	extra := fmt.Sprintf(`kerberos:
  keytab: %s
  spn: HTTP/%s
profiles:
  - name: kerberos-enrol
    target_groups: [%q]
    enrol_with: [tap, kerberos]
    kerberos_max_age: 1h
  - name: kerberos-fresh
    target_groups: [%q]
    enrol_with: [tap, kerberos]
    kerberos_max_age: 2s
  - name: everyone
    target_groups: ["*"]
`, k.keytab, k.host, group.DN, quick.DN)
	d, err := f.Derive(filepath.Join(dir, "srv"), func(o *deploy.Options) { o.ExtraYAML = extra })
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
	k.Deployment, k.extra = d, extra
	_, k.port, _ = net.SplitHostPort(d.Listen)
	return k
}

// curlBegin runs curl --negotiate on register/begin with the cache cc and
// returns the HTTP status and the body.
func (k *kerbEnrol) curlBegin(t *testing.T, cc string, extra ...string) (int, []byte) {
	t.Helper()
	curl := testenv.RequireTool(t, "curl")
	url := "https://" + k.host + ":" + k.port + "/v1/register/begin"
	args := append([]string{"-sS", "--negotiate", "-u", ":", "--cacert", k.CAFile,
		"--resolve", k.host + ":" + k.port + ":127.0.0.1", "-X", "POST", "-H", "Content-Type: application/json",
		"-d", "{}", "-w", "\n%{http_code}", url}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, k.f.clientEnv(cc), curl, args...)
	if err != nil {
		t.Fatalf("curl --negotiate: %v\n%s", err, out)
	}
	out = strings.TrimRight(out, "\n")
	i := strings.LastIndex(out, "\n")
	var status int
	if _, err := fmt.Sscan(out[i+1:], &status); err != nil {
		t.Fatalf("curl printed no status: %q", out)
	}
	return status, []byte(out[:max(i, 0)])
}

// goNegotiate sends register/begin with a Negotiate token for spn made by
// gokrb5's client from the cache cc (curl always asks for HTTP/<URL host>).
func (k *kerbEnrol) goNegotiate(t *testing.T, cc, spn string) (int, []byte) {
	t.Helper()
	cl := k.krbClient(t, cc)
	req, _ := http.NewRequest(http.MethodPost, k.URL+"/v1/register/begin", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if err := spnego.SetSPNEGOHeader(cl, req, spn); err != nil {
		t.Fatalf("SPNEGO token for %s: %v", spn, err)
	}
	hc, err := k.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// pageClient is an HTTPS client of https://<host>:<port> (the SPN's name,
// dialled on the server's loopback address) with a cookie jar.
func (k *kerbEnrol) pageClient(t *testing.T) *http.Client {
	t.Helper()
	hc, err := k.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, k.Listen)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc.Jar = jar
	return hc
}

// pagePost POSTs body to the page endpoint path as the page does (same
// Origin, CSRF token when given), with a Negotiate token for spn when set.
func (k *kerbEnrol) pagePost(t *testing.T, hc *http.Client, cl *krbclient.Client, path, csrf string, body any) (int, map[string]any) {
	t.Helper()
	origin := "https://" + k.host + ":" + k.port
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(http.MethodPost, origin+path, rd)
	req.Header.Set("Origin", origin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if cl != nil {
		if err := spnego.SetSPNEGOHeader(cl, req, "HTTP/"+k.host); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// krbClient is gokrb5's client on the cache cc.
func (k *kerbEnrol) krbClient(t *testing.T, cc string) *krbclient.Client {
	t.Helper()
	cfg, err := krbconfig.Load(k.f.dc.KRB5Conf())
	if err != nil {
		t.Fatal(err)
	}
	cache, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := krbclient.NewFromCCache(cache, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// pageEnrol: the Security info page signs kpage in by Kerberos, the page
// registers a software passkey, passkinit signs in with it and kvno works;
// the Kerberos page session ends with the first passkey and a new Kerberos
// sign-in is refused.
func (k *kerbEnrol) pageEnrol(t *testing.T, kvno string) {
	cl := k.krbClient(t, k.kinit(t, "kpage"))
	hc := k.pageClient(t)
	if st, m := k.pagePost(t, hc, nil, "/v1/page/kerberos", "", nil); st != http.StatusUnauthorized || m["error"] != "kerberos_invalid" {
		t.Fatalf("page Kerberos sign-in without a token: HTTP %d %v, want the 401 challenge", st, m)
	}
	st, view := k.pagePost(t, hc, cl, "/v1/page/kerberos", "", nil)
	if st != http.StatusOK || view["via"] != "kerberos" || !strings.HasPrefix(fmt.Sprint(view["principal"]), "kpage") {
		t.Fatalf("page Kerberos sign-in: HTTP %d %v\nlog:\n%s", st, view, k.Log())
	}
	csrf := fmt.Sprint(view["csrf_token"])
	st, begin := k.pagePost(t, hc, nil, "/v1/page/credentials/begin", csrf, nil)
	if st != http.StatusOK {
		t.Fatalf("page credentials/begin: HTTP %d %v", st, begin)
	}
	opts, _ := json.Marshal(begin["publicKey"])
	var creation protocol.PublicKeyCredentialCreationOptions
	if err := json.Unmarshal(opts, &creation); err != nil {
		t.Fatal(err)
	}
	passkey := filepath.Join(t.TempDir(), "kpage.passkey")
	a, err := softkey.Open(passkey)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Register(creation, "https://localhost:"+k.port)
	if err != nil {
		t.Fatal(err)
	}
	st, fin := k.pagePost(t, hc, nil, "/v1/page/credentials/finish", csrf,
		map[string]any{"session": begin["session"], "credential": json.RawMessage(cred), "name": "soft"})
	if st != http.StatusOK {
		t.Fatalf("page credentials/finish: HTTP %d %v", st, fin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signed := filepath.Join(t.TempDir(), "signed.cc")
	if out, err := k.Passkinit(ctx, nil, "--authenticator", "soft:"+passkey, "-c", signed); err != nil {
		t.Fatalf("passkinit with the page-enrolled passkey: %v\n%s", err, out)
	}
	if out, err := run(ctx, k.f.clientEnv(signed), kvno, "cifs/"+k.f.dc.FQDN()); err != nil {
		t.Fatalf("kvno: %v\n%s", err, out)
	}
	// The Kerberos session bootstrapped one passkey and is over.
	if st, m := k.pagePost(t, hc, nil, "/v1/page/credentials/begin", csrf, nil); st != http.StatusUnauthorized || m["error"] != "page_session_required" {
		t.Fatalf("a second add in the Kerberos page session: HTTP %d %v", st, m)
	}
	if st, m := k.pagePost(t, hc, cl, "/v1/page/kerberos", "", nil); st != http.StatusForbidden || m["error"] != "kerberos_passkey_exists" {
		t.Fatalf("Kerberos page sign-in with a passkey: HTTP %d %v", st, m)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && k.pageRefusals("kpage") < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	if n := k.pageRefusals("kpage"); n != 1 {
		t.Fatalf("%d page.signin refusals kerberos_passkey_exists for kpage, want 1", n)
	}
}

func (k *kerbEnrol) pageRefusals(user string) int {
	n := 0
	for _, a := range k.audits(user) {
		if a["event"] == "page.signin" && a["result"] == "refused" && a["reason"] == "kerberos_passkey_exists" {
			n++
		}
	}
	return n
}

// kinit gets user a TGT into a new cache (MIT kinit with the password).
func (k *kerbEnrol) kinit(t *testing.T, user string) string {
	t.Helper()
	cc := filepath.Join(t.TempDir(), user+".cc")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.f.dc.Kinit(ctx, user, k.f.password, cc); err != nil {
		t.Fatal(err)
	}
	return cc
}

// finish registers a software passkey at path on the begin options body.
func (k *kerbEnrol) finish(t *testing.T, body []byte, path string) (int, []byte) {
	t.Helper()
	var begin struct {
		Session   string                                      `json:"session"`
		PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
	}
	if err := json.Unmarshal(body, &begin); err != nil || begin.Session == "" {
		t.Fatalf("register/begin answer: %v\n%s", err, body)
	}
	a, err := softkey.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Register(begin.PublicKey, "https://localhost:"+k.port)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{"session": begin.Session, "credential": json.RawMessage(cred)})
	hc, err := k.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(k.URL+"/v1/register/finish", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// refusals counts the audit records of event register.begin refused with code for user.
func (k *kerbEnrol) refusals(user, code string) int {
	n := 0
	for _, a := range k.audits(user) {
		if a["event"] == "register.begin" && a["result"] == "refused" && a["reason"] == code {
			n++
		}
	}
	return n
}

// audits are the decision records about user ("": all).
func (k *kerbEnrol) audits(user string) []map[string]any {
	if user != "" {
		return auditIn(k.Log(), user)
	}
	var all []map[string]any
	for _, line := range strings.Split(k.Log(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["result"] != nil {
			all = append(all, m)
		}
	}
	return all
}

// waitRefusals waits (at most 3 s) for want refusal records.
func (k *kerbEnrol) waitRefusals(t *testing.T, user, code string, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for k.refusals(user, code) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := k.refusals(user, code); got != want {
		t.Fatalf("%d audit records register.begin refused %s for %s, want %d; log:\n%s", got, code, user, want, k.Log())
	}
}

// The proof: a user with a password-logon ticket (MIT kinit) and no
// passkey enrols one through curl --negotiate on the registration API, then
// passkinit signs in with it and kvno works. Refusals, each one audit record
// with its code: a second passkey by Kerberos alone, a profile without
// kerberos in enrol_with, a disabled user.
func TestKerberosEnrolmentWithCurlNegotiate(t *testing.T) {
	kvno := testenv.RequireTool(t, "kvno")
	k := kerberosEnrolment(t)
	t.Run("http-spn keytab", func(t *testing.T) { k.checkKeytab(t) })
	t.Run("enrol, sign in, kvno; no second passkey by Kerberos", func(t *testing.T) { k.enrolAndSignIn(t, kvno) })
	t.Run("Security info page: Kerberos sign-in, first passkey, then the session ends", func(t *testing.T) { k.pageEnrol(t, kvno) })
	t.Run("Security info page in Chromium: Kerberos page session, passkey on the virtual authenticator, passkey sign-in; Kerberos again refused", func(t *testing.T) { k.browserEnrol(t) })
	t.Run("profile does not allow kerberos", func(t *testing.T) {
		status, body := k.curlBegin(t, k.kinit(t, "knotallowed"))
		if status != http.StatusForbidden || !strings.Contains(string(body), "kerberos_not_allowed") {
			t.Fatalf("HTTP %d %s", status, body)
		}
		k.waitRefusals(t, "knotallowed", "kerberos_not_allowed", 1)
	})
	t.Run("RC4 ticket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dn := "CN=" + rodc.DefaultHTTPAccount + ",CN=Computers," + k.f.dc.BaseDN()
		if err := k.f.dc.SetAttribute(ctx, dn, "msDS-SupportedEncryptionTypes", "4"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := k.f.dc.SetAttribute(context.Background(), dn, "msDS-SupportedEncryptionTypes", "24"); err != nil {
				t.Error(err)
			}
		}()
		status, body := k.curlBegin(t, k.kinit(t, "kagain"))
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "kerberos_weak_enctype") {
			t.Fatalf("HTTP %d %s", status, body)
		}
		k.waitRefusals(t, "", "kerberos_weak_enctype", 1)
	})
	t.Run("ticket for another SPN", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		other := "other." + strings.ToLower(k.f.dc.Realm())
		if out, err := k.f.Directory(ctx, "rodc", "http-spn", "--account", "PASSKDC-OTHER", "--host", other,
			"--keytab", filepath.Join(t.TempDir(), "other.keytab")); err != nil {
			t.Fatalf("http-spn for %s: %v\n%s", other, err, out)
		}
		status, body := k.goNegotiate(t, k.kinit(t, "kagain"), "HTTP/"+other)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "kerberos_wrong_service") {
			t.Fatalf("HTTP %d %s", status, body)
		}
		k.waitRefusals(t, "", "kerberos_wrong_service", 1)
	})
	t.Run("stale ticket", func(t *testing.T) {
		cc := k.kinit(t, "kstale")
		time.Sleep(3 * time.Second) // past kerberos_max_age: 2s
		status, body := k.curlBegin(t, cc)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "kerberos_ticket_stale") {
			t.Fatalf("HTTP %d %s", status, body)
		}
		k.waitRefusals(t, "kstale", "kerberos_ticket_stale", 1)
	})
	t.Run("http-spn again rotates; serve reloads the keytab", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		versions := func() []uint32 {
			kt, err := keytabs.Load(k.keytab)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := kt.KeySet(keytabs.NewPrincipal(k.f.dc.Realm(), "HTTP", k.host))
			if err != nil {
				t.Fatal(err)
			}
			return ks.Versions()
		}
		before := versions()
		for range 2 {
			if out, err := k.f.Directory(ctx, "rodc", "http-spn", "--host", k.host, "--keytab", k.keytab); err != nil || !strings.Contains(out, "re-keyed") {
				t.Fatalf("http-spn again: %v\n%s", err, out)
			}
		}
		after := versions()
		if len(before) != 1 || len(after) != 2 || after[len(after)-1] != before[0]+2 {
			t.Fatalf("key versions %v then %v: want two versions, the newest two past the first", before, after)
		}
		cc := k.kinit(t, "kagain")
		if out, err := run(ctx, k.f.clientEnv(cc), testenv.RequireTool(t, "kvno"), "-k", k.keytab, "HTTP/"+k.host); err != nil {
			t.Fatalf("kvno -k (the rotated keytab decrypts the DC's ticket): %v\n%s", err, out)
		}
		// Both rotations land within one poll or two: wait for the reload
		// of the newest version, not the first reload.
		reloaded := fmt.Sprintf(`"kvno":%d,"level":"info","msg":"HTTP service keytab reloaded"`, after[len(after)-1])
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(k.Log(), reloaded) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if status, body := k.curlBegin(t, cc); status != http.StatusOK {
			t.Fatalf("a ticket under the rotated key: HTTP %d %s\nlog:\n%s", status, body, k.Log())
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		cc := k.kinit(t, "kdisabled")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The service ticket is fetched while the account is enabled (the DC
		// refuses a disabled account's TGS-REQ): passkdc must refuse it itself.
		if out, err := run(ctx, k.f.clientEnv(cc), kvno, "HTTP/"+k.host); err != nil {
			t.Fatalf("kvno HTTP/%s: %v\n%s", k.host, err, out)
		}
		if err := k.f.dc.SetEnabled(ctx, k.f.users["kdisabled"].DN, false); err != nil {
			t.Fatal(err)
		}
		status, body := k.curlBegin(t, cc)
		if status != http.StatusForbidden || !strings.Contains(string(body), "principal_disabled") {
			t.Fatalf("HTTP %d %s", status, body)
		}
		k.waitRefusals(t, "kdisabled", "principal_disabled", 1)
	})
}

func (k *kerbEnrol) checkKeytab(t *testing.T) {
	kt, err := keytabs.Load(k.keytab)
	if err != nil {
		t.Fatalf("the http-spn keytab: %v\n%s", err, k.spnOut)
	}
	if fi, _ := os.Stat(k.keytab); fi.Mode().Perm() != 0o600 {
		t.Fatalf("keytab mode %04o, want 0600", fi.Mode().Perm())
	}
	if len(kt.Entries) != 2 {
		t.Fatalf("keytab holds %d entries, want the AES128 and AES256 keys", len(kt.Entries))
	}
	for _, e := range kt.Entries {
		if e.Principal.String() != "HTTP/"+k.host+"@"+k.f.dc.Realm() || (e.Key.KeyType != 17 && e.Key.KeyType != 18) {
			t.Fatalf("keytab entry %s etype %d: want only AES keys of HTTP/%s", e.Principal, e.Key.KeyType, k.host)
		}
	}
}

func (k *kerbEnrol) enrolAndSignIn(t *testing.T, kvno string) {
	cc := k.kinit(t, "kenrol")
	status, body := k.curlBegin(t, cc)
	if status != http.StatusOK {
		t.Fatalf("curl --negotiate register/begin: HTTP %d %s\nlog:\n%s", status, body, k.Log())
	}
	passkey := filepath.Join(t.TempDir(), "kenrol.passkey")
	if st, b := k.finish(t, body, passkey); st != http.StatusOK {
		t.Fatalf("register/finish: HTTP %d %s", st, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signed := filepath.Join(t.TempDir(), "signed.cc")
	if out, err := k.Passkinit(ctx, nil, "--authenticator", "soft:"+passkey, "-c", signed); err != nil {
		t.Fatalf("passkinit with the Kerberos-enrolled passkey: %v\n%s\nlog:\n%s", err, out, k.Log())
	}
	svc := "cifs/" + k.f.dc.FQDN()
	if out, err := run(ctx, k.f.clientEnv(signed), kvno, svc); err != nil {
		t.Fatalf("kvno %s: %v\n%s", svc, err, out)
	}
	status, body = k.curlBegin(t, cc)
	if status != http.StatusForbidden || !strings.Contains(string(body), "kerberos_passkey_exists") {
		t.Fatalf("second Kerberos enrolment: HTTP %d %s", status, body)
	}
	k.waitRefusals(t, "kenrol", "kerberos_passkey_exists", 1)
}
