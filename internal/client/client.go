// Package client is the logic of passkinit: it enrols a passkey with a
// temporary access pass, signs in, opens the KRB-CRED with the binding key,
// optionally trades the partial TGT for a full TGT at the DC, and writes a
// credential cache. cmd/passkinit only parses flags and calls it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/passkdc/passkdc/kdc/binding"
	"github.com/passkdc/passkdc/kdc/krbcred"
)

// Authenticator answers WebAuthn ceremonies (softkey.Authenticator does).
type Authenticator interface {
	Register(opts protocol.PublicKeyCredentialCreationOptions, origin string) ([]byte, error)
	Assert(opts protocol.PublicKeyCredentialRequestOptions, origin string) ([]byte, error)
}

// APIError is an error answered by passkdc: a stable code and a message.
type APIError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("passkdc refused (%s): %s", e.Code, e.Message)
}

// ErrUnreachable: the passkdc server could not be reached.
var ErrUnreachable = errors.New("cannot reach passkdc")

// ErrUntrusted: passkdc answered, but with a certificate this client does not
// trust (unknown CA, a name it does not cover, expired).
var ErrUntrusted = errors.New("passkdc's certificate is not trusted")

// transportError tells an untrusted certificate from an unreachable server.
func transportError(host string, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("%w at %s: %w; give the CA that signed it with --ca-file (for a self-signed passkdc, the tls.crt that `passkdc serve` printed at first start)",
			ErrUntrusted, host, err)
	}
	return fmt.Errorf("%w at %s: %w", ErrUnreachable, host, err)
}

// Client talks to one passkdc server.
type Client struct {
	base   *url.URL
	origin string
	http   *http.Client
}

// New makes a client for server (https://host:port). caFile, when set, is the
// only CA trusted for the server's certificate.
func New(server, caFile string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server URL %q: want https://host[:port]", server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &Client{
		base:   u,
		origin: u.Scheme + "://" + u.Host,
		http:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}, nil
}

// Registered is the result of an enrolment.
type Registered struct {
	CredentialID string `json:"credential_id"`
	Principal    string `json:"principal"`
}

// Register enrols auth's new passkey using a temporary access pass. A
// non-empty principal names the account the pass must be for: passkdc
// refuses a pass of another account before anything is registered.
func (c *Client) Register(ctx context.Context, tap, principal string, auth Authenticator) (*Registered, error) {
	var begin struct {
		Session   string                                      `json:"session"`
		PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
	}
	req := struct {
		Principal string `json:"principal,omitempty"`
	}{principal}
	if err := c.post(ctx, "/v1/register/begin", "Bearer "+tap, req, &begin); err != nil {
		return nil, err
	}
	resp, err := auth.Register(begin.PublicKey, c.origin)
	if err != nil {
		return nil, fmt.Errorf("authenticator: %w", err)
	}
	var out Registered
	err = c.post(ctx, "/v1/register/finish", "", map[string]any{"session": begin.Session, "credential": json.RawMessage(resp)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SignedIn is the opened result of a sign-in.
type SignedIn struct {
	Principal string
	Cred      *krbcred.Cred // the partial TGT and its session key
	// KDCProxy is the KDC proxy URL passkdc advertised ("" when none):
	// passkinit falls back to it when no DC is reachable.
	KDCProxy string
}

// Login signs in with auth (principal may be empty: discoverable sign-in) and
// opens the returned KRB-CRED with this ceremony's binding key.
func (c *Client) Login(ctx context.Context, principal string, auth Authenticator) (*SignedIn, error) {
	bk, err := binding.Generate()
	if err != nil {
		return nil, err
	}
	var begin struct {
		Session   string                                     `json:"session"`
		PublicKey protocol.PublicKeyCredentialRequestOptions `json:"publicKey"`
	}
	req := map[string]string{"binding_key": b64(bk.Public())}
	if principal != "" {
		req["principal"] = principal
	}
	if err := c.post(ctx, "/v1/login/begin", "", req, &begin); err != nil {
		return nil, err
	}
	resp, err := auth.Assert(begin.PublicKey, c.origin)
	if err != nil {
		return nil, fmt.Errorf("authenticator: %w", err)
	}
	var fin issued
	err = c.post(ctx, "/v1/login/finish", "", map[string]any{"session": begin.Session, "credential": json.RawMessage(resp)}, &fin)
	if err != nil {
		return nil, err
	}
	return c.open(bk, begin.Session, fin)
}

// issued is the answer of /v1/login/finish and /v1/login/redeem.
type issued struct {
	Principal string `json:"principal"`
	KRBCred   string `json:"krb_cred"`
	ServerKey string `json:"server_key"`
	KDCProxy  string `json:"kdc_proxy"` // advertised KDC proxy URL, "" when none
}

// open opens an issued KRB-CRED and keeps the KDC proxy passkdc advertised,
// which must be a KDC proxy URL no weaker than passkdc's own (no http
// proxy for an https passkdc).
func (c *Client) open(bk *binding.PrivateKey, salt string, fin issued) (*SignedIn, error) {
	if fin.KDCProxy != "" {
		u, err := url.Parse(fin.KDCProxy)
		if err != nil || CheckKDCProxyURL(fin.KDCProxy) != nil || (c.base.Scheme == "https" && u.Scheme != "https") {
			return nil, fmt.Errorf("passkdc advertised an unusable KDC proxy URL %q (its kdc_proxy.advertise_url)", fin.KDCProxy)
		}
	}
	si, err := Open(bk, salt, fin.Principal, fin.KRBCred, fin.ServerKey)
	if err != nil {
		return nil, err
	}
	si.KDCProxy = fin.KDCProxy
	return si, nil
}

// Open decrypts a KRB-CRED returned by /v1/login/finish with the binding key.
func Open(bk *binding.PrivateKey, session, principal, krbCredB64, serverKeyB64 string) (*SignedIn, error) {
	raw, err := base64.RawURLEncoding.DecodeString(krbCredB64)
	if err != nil {
		return nil, fmt.Errorf("server sent a malformed krb_cred: %w", err)
	}
	sk, err := base64.RawURLEncoding.DecodeString(serverKeyB64)
	if err != nil {
		return nil, fmt.Errorf("server sent a malformed server_key: %w", err)
	}
	key, err := bk.ClientKey(sk, session)
	if err != nil {
		return nil, err
	}
	cred, err := krbcred.Parse(raw, &key)
	if err != nil {
		return nil, fmt.Errorf("open KRB-CRED: %w", err)
	}
	if len(cred.Tickets) != 1 || len(cred.Infos) != 1 {
		return nil, fmt.Errorf("KRB-CRED holds %d tickets, want 1", len(cred.Tickets))
	}
	return &SignedIn{Principal: principal, Cred: cred}, nil
}

func (c *Client) post(ctx context.Context, path, auth string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read passkdc answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_"+resp.Status, string(bytes.TrimSpace(b))
		}
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("passkdc answered malformed JSON: %w", err)
	}
	return nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// IsAPIError reports whether err is a refusal by passkdc with that code.
func IsAPIError(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}
