package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/kdc/krbcred"
)

// fakeAuth is an authenticator that answers every ceremony with a fixed
// credential (or fails with err) and records the origin it was given.
type fakeAuth struct {
	err     error
	origins []string
}

func (a *fakeAuth) Register(_ protocol.PublicKeyCredentialCreationOptions, origin string) ([]byte, error) {
	a.origins = append(a.origins, origin)
	return []byte(`{"id":"new-passkey"}`), a.err
}

func (a *fakeAuth) Assert(_ protocol.PublicKeyCredentialRequestOptions, origin string) ([]byte, error) {
	a.origins = append(a.origins, origin)
	return []byte(`{"id":"passkey"}`), a.err
}

// call is one request the fake passkdc received.
type call struct {
	path, auth string
	body       map[string]any
}

// answer is the fake passkdc's reply to one request.
type answer struct {
	status int
	body   string
}

// fakeAPI is a passkdc API on loopback: reply answers each request, the
// requests are recorded in order.
func fakeAPI(t *testing.T, reply func(c call) answer) (*Client, *[]call) {
	t.Helper()
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := call{path: r.URL.Path, auth: r.Header.Get("Authorization")}
		if err := json.Unmarshal(b, &c.body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not a JSON request", http.StatusBadRequest)
			return
		}
		calls = append(calls, c)
		a := reply(c)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// issuedFor is passkdc's /v1/login/finish answer for the binding key and
// session of a begin request: cred sealed with the key both sides derive.
func issuedFor(t *testing.T, begin call, session string, cred *krbcred.Cred) map[string]any {
	t.Helper()
	clientPub, err := base64.RawURLEncoding.DecodeString(begin.body["binding_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sk, err := binding.Generate()
	if err != nil {
		t.Fatal(err)
	}
	key, err := sk.ServerKey(clientPub, session)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cred.Marshal(&key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"principal": "alice@EXAMPLE.TEST", "krb_cred": b64(raw), "server_key": b64(sk.Public())}
}

// loginAPI answers begin with session "s1" and finish with finish(good
// answer) (status 200 unless finish sets "status").
func loginAPI(t *testing.T, cred *krbcred.Cred, finish func(good map[string]any) answer) (*Client, *[]call) {
	var begin call
	return fakeAPI(t, func(c call) answer {
		switch c.path {
		case "/v1/login/begin":
			begin = c
			return answer{http.StatusOK, `{"session":"s1","publicKey":{"challenge":"AAAA","rpId":"localhost"}}`}
		case "/v1/login/finish":
			return finish(issuedFor(t, begin, "s1", cred))
		}
		return answer{http.StatusNotFound, `{"error":"not_found","message":"no route"}`}
	})
}

func TestLoginOpensTheIssuedCredential(t *testing.T) {
	cred := signedIn(t).Cred
	for _, tc := range []struct {
		name, principal, advertise string
	}{
		{"discoverable", "", ""},
		{"named account", "alice", ""},
		{"with an advertised KDC proxy", "", "http://127.0.0.1:9/KdcProxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, calls := loginAPI(t, cred, func(good map[string]any) answer {
				if tc.advertise != "" {
					good["kdc_proxy"] = tc.advertise
				}
				return answer{http.StatusOK, jsonOf(t, good)}
			})
			auth := &fakeAuth{}
			si, err := c.Login(context.Background(), tc.principal, auth)
			if err != nil {
				t.Fatal(err)
			}
			if si.Principal != "alice@EXAMPLE.TEST" || si.KDCProxy != tc.advertise {
				t.Errorf("signed in as %q, KDC proxy %q", si.Principal, si.KDCProxy)
			}
			if !reflect.DeepEqual(si.Cred.Tickets, cred.Tickets) || !reflect.DeepEqual(si.Cred.Infos[0].Key, cred.Infos[0].Key) {
				t.Error("the opened KRB-CRED is not the one issued")
			}
			got := *calls
			if len(got) != 2 || got[0].path != "/v1/login/begin" || got[1].path != "/v1/login/finish" {
				t.Fatalf("calls %+v", got)
			}
			if p, _ := got[0].body["principal"].(string); p != tc.principal {
				t.Errorf("begin sent principal %q, want %q", p, tc.principal)
			}
			if got[1].body["session"] != "s1" || got[1].body["credential"].(map[string]any)["id"] != "passkey" {
				t.Errorf("finish sent %v", got[1].body)
			}
			if len(auth.origins) != 1 || auth.origins[0] != c.origin || !strings.HasPrefix(c.origin, "http://127.0.0.1:") {
				t.Errorf("authenticator asked for origins %v (client origin %s)", auth.origins, c.origin)
			}
		})
	}
}

// TestLoginRefusesBadAnswers: every way passkdc (or something posing as it)
// can answer badly ends the sign-in with an error saying which.
func TestLoginRefusesBadAnswers(t *testing.T) {
	cred := signedIn(t).Cred
	otherKey, err := binding.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		finish   answer            // the finish answer (status 0: the good one, with set)
		set      map[string]string // fields of the good answer replaced
		authErr  error
		wantCode string // an APIError with this code
		wantText string // else an error containing this
	}{
		{name: "refusal with a code", finish: answer{http.StatusForbidden, `{"error":"credential_revoked","message":"this passkey was revoked"}`},
			wantCode: "credential_revoked"},
		{name: "refusal without JSON", finish: answer{http.StatusBadGateway, "<html>proxy error</html>\n"}, wantCode: "http_502 Bad Gateway"},
		{name: "malformed JSON", finish: answer{http.StatusOK, `{"principal":`}, wantText: "malformed JSON"},
		{name: "krb_cred not base64url", set: map[string]string{"krb_cred": "***"}, wantText: "malformed krb_cred"},
		{name: "server_key not base64url", set: map[string]string{"server_key": "***"}, wantText: "malformed server_key"},
		{name: "server_key not a key", set: map[string]string{"server_key": b64([]byte("short"))}, wantText: "binding key must be"},
		{name: "krb_cred sealed with another key", set: map[string]string{"server_key": b64(otherKey.Public())}, wantText: "open KRB-CRED"},
		{name: "krb_cred not a KRB-CRED", set: map[string]string{"krb_cred": b64([]byte{0x30, 0x00})}, wantText: "open KRB-CRED"},
		{name: "an ftp KDC proxy advertised", set: map[string]string{"kdc_proxy": "ftp://127.0.0.1/KdcProxy"}, wantText: "kdc_proxy.advertise_url"},
		{name: "the authenticator fails", authErr: errors.New("no passkey here"), wantText: "authenticator: no passkey here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, calls := loginAPI(t, cred, func(good map[string]any) answer {
				if tc.finish.status != 0 {
					return tc.finish
				}
				for k, v := range tc.set {
					good[k] = v
				}
				return answer{http.StatusOK, jsonOf(t, good)}
			})
			si, err := c.Login(context.Background(), "", &fakeAuth{err: tc.authErr})
			if err == nil {
				t.Fatalf("signed in (%+v)", si)
			}
			var apiErr *APIError
			isAPI := errors.As(err, &apiErr)
			switch {
			case tc.wantCode != "" && (!isAPI || apiErr.Code != tc.wantCode || !IsAPIError(err, tc.wantCode)):
				t.Fatalf("err = %v, want the API error %s", err, tc.wantCode)
			case tc.wantCode == "" && (isAPI || !strings.Contains(err.Error(), tc.wantText)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantText)
			}
			if tc.authErr != nil && len(*calls) != 1 {
				t.Errorf("%d requests after the authenticator failed, want 1 (begin)", len(*calls))
			}
		})
	}
}

func TestAPIErrorKeepsStatusAndMessage(t *testing.T) {
	c, _ := fakeAPI(t, func(call) answer {
		return answer{http.StatusTooManyRequests, `{"error":"rate_limited","message":"slow down"}`}
	})
	_, err := c.Login(context.Background(), "", &fakeAuth{})
	var e *APIError
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Message != "slow down" ||
		e.Error() != "passkdc refused (rate_limited): slow down" {
		t.Fatalf("err = %#v", err)
	}
	if IsAPIError(err, "other_code") || IsAPIError(errors.New("rate_limited"), "rate_limited") {
		t.Error("IsAPIError matched another code or a plain error")
	}
}

func TestRegisterSendsThePassAndTheCredential(t *testing.T) {
	for _, tc := range []struct {
		name, principal string
		finish          answer
		wantErr         string
	}{
		{"any account", "", answer{http.StatusOK, `{"credential_id":"Y3JlZA","principal":"alice@EXAMPLE.TEST"}`}, ""},
		{"named account", "alice", answer{http.StatusOK, `{"credential_id":"Y3JlZA","principal":"alice@EXAMPLE.TEST"}`}, ""},
		{"pass refused", "bob", answer{http.StatusForbidden, `{"error":"tap_invalid","message":"unknown pass"}`}, "tap_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, calls := fakeAPI(t, func(c call) answer {
				if c.path == "/v1/register/begin" {
					if tc.wantErr != "" {
						return tc.finish
					}
					return answer{http.StatusOK, `{"session":"r1","publicKey":{"challenge":"AAAA","rp":{"id":"localhost","name":"x"},"user":{"id":"dQ","name":"alice"}}}`}
				}
				return tc.finish
			})
			reg, err := c.Register(context.Background(), "TAP-123", tc.principal, &fakeAuth{})
			if tc.wantErr != "" {
				if !IsAPIError(err, tc.wantErr) || len(*calls) != 1 {
					t.Fatalf("err = %v after %d calls, want %s after begin", err, len(*calls), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *reg != (Registered{CredentialID: "Y3JlZA", Principal: "alice@EXAMPLE.TEST"}) {
				t.Errorf("registered %+v", reg)
			}
			got := *calls
			if len(got) != 2 || got[0].auth != "Bearer TAP-123" || got[1].auth != "" {
				t.Fatalf("calls %+v: want the pass on begin only", got)
			}
			if p, _ := got[0].body["principal"].(string); p != tc.principal {
				t.Errorf("begin sent principal %q", p)
			}
			if got[1].body["session"] != "r1" || got[1].body["credential"].(map[string]any)["id"] != "new-passkey" {
				t.Errorf("finish sent %v", got[1].body)
			}
		})
	}
}

// writeCA writes the certificate of a TLS test server as a PEM file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTransportErrors: an unreachable server and an untrusted certificate
// are told apart, and --ca-file makes a self-signed server trusted.
func TestTransportErrors(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"reached","message":"ok"}`, http.StatusTeapot)
	}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ca := writeCA(t, tlsSrv)
	dead := "http://" + testenv.ClosedPort(t)
	wrongName := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1) // the test certificate names example.com and 127.0.0.1

	for _, tc := range []struct {
		name, url, ca string
		want          error  // nil: the server's answer came through
		wantText      string // e.g. the --ca-file hint
	}{
		{"nothing listening", dead, "", ErrUnreachable, "cannot reach passkdc"},
		{"unknown CA", tlsSrv.URL, "", ErrUntrusted, "--ca-file"},
		{"name not covered", wrongName, ca, ErrUntrusted, "--ca-file"},
		{"trusted with the CA file", tlsSrv.URL, ca, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.url, tc.ca)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Login(context.Background(), "", &fakeAuth{})
			if tc.want == nil {
				if !IsAPIError(err, "reached") {
					t.Fatalf("err = %v, want the server's answer", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err = %v, want %v (%q)", err, tc.want, tc.wantText)
			}
			other := ErrUnreachable
			if tc.want == ErrUnreachable {
				other = ErrUntrusted
			}
			if errors.Is(err, other) {
				t.Errorf("err = %v is also %v", err, other)
			}
		})
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, ca, want string
	}{
		{"no scheme", "passkdc.example.test:8443", "", "want https://host[:port]"},
		{"ftp", "ftp://passkdc.example.test", "", "want https://host[:port]"},
		{"no host", "https://", "", "want https://host[:port]"},
		{"missing CA file", "https://passkdc.example.test", filepath.Join(dir, "nope.pem"), "CA file"},
		{"CA file without PEM", "https://passkdc.example.test", notPEM, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := New(tc.url, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%q, %q) = %v, %v; want an error containing %q", tc.url, tc.ca, c, err, tc.want)
			}
		})
	}
	c, err := New("https://passkdc.example.test:8443/base", "")
	if err != nil || c.origin != "https://passkdc.example.test:8443" {
		t.Fatalf("origin %q, err %v", c.origin, err)
	}
}
