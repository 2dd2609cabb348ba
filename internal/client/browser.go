package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/passkdc/passkdc/kdc/binding"
)

// ErrBrowserTimeout: the browser sign-in did not come back in time.
var ErrBrowserTimeout = errors.New("browser sign-in did not complete in time")

// DefaultBrowserTimeout bounds a browser sign-in from opening the page to the
// callback.
const DefaultBrowserTimeout = 5 * time.Minute

// BrowserLogin signs in through the user's browser, for passkeys that live
// there (synced or platform passkeys), following RFC 8252 §7.3: it listens on
// 127.0.0.1 on a free port, calls openURL with passkdc's /signin page (with
// the loopback redirect URI, this ceremony's binding key and a random state),
// waits for the browser to come back with a one-time code and the same state,
// and redeems the code at /v1/login/redeem. The KRB-CRED is opened with the
// binding key, so a code intercepted on the way is useless to anyone else.
// timeout <= 0 means DefaultBrowserTimeout.
func (c *Client) BrowserLogin(ctx context.Context, openURL func(string) error, timeout time.Duration) (*SignedIn, error) {
	if timeout <= 0 {
		timeout = DefaultBrowserTimeout
	}
	bk, err := binding.Generate()
	if err != nil {
		return nil, err
	}
	state := randomToken()
	cb, err := listenCallback(state)
	if err != nil {
		return nil, err
	}
	defer cb.close()

	u := c.base.JoinPath("/signin")
	q := u.Query()
	q.Set("redirect_uri", cb.redirectURI())
	q.Set("binding_key", b64(bk.Public()))
	q.Set("state", state)
	u.RawQuery = q.Encode()
	if err := openURL(u.String()); err != nil {
		return nil, fmt.Errorf("open the sign-in page: %w", err)
	}

	code, err := cb.wait(ctx, timeout)
	if err != nil {
		return nil, err
	}
	si, err := c.redeem(ctx, bk, code)
	cb.finish(si, err)
	return si, err
}

// redeem trades the one-time code for the sealed partial TGT and opens it.
func (c *Client) redeem(ctx context.Context, bk *binding.PrivateKey, code string) (*SignedIn, error) {
	var fin issued
	req := map[string]string{"code": code, "binding_key": b64(bk.Public())}
	if err := c.post(ctx, "/v1/login/redeem", "", req, &fin); err != nil {
		return nil, err
	}
	// The server salts the binding key derivation with the code.
	return c.open(bk, code, fin)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b64(b)
}

// callback is the loopback HTTP server that receives the browser's redirect.
type callback struct {
	ln     net.Listener
	srv    *http.Server
	state  string
	codes  chan string
	once   sync.Once
	result chan callbackResult // the outcome shown to the browser
}

type callbackResult struct {
	principal string
	err       error
}

func listenCallback(state string) (*callback, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on the loopback interface: %w", err)
	}
	cb := &callback{ln: ln, state: state, codes: make(chan string, 1), result: make(chan callbackResult, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", cb.handle)
	cb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = cb.srv.Serve(ln) }()
	return cb, nil
}

func (cb *callback) redirectURI() string {
	return fmt.Sprintf("http://%s/callback", cb.ln.Addr().String())
}

func (cb *callback) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = cb.srv.Shutdown(ctx)
}

// wait returns the code of the first callback with the right state.
func (cb *callback) wait(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case code := <-cb.codes:
		return code, nil
	case <-t.C:
		return "", fmt.Errorf("%w (%s)", ErrBrowserTimeout, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// finish tells the waiting browser request how the redemption went.
func (cb *callback) finish(si *SignedIn, err error) {
	r := callbackResult{err: err}
	if si != nil {
		r.principal = si.Principal
	}
	cb.result <- r
}

// callbackCSS styles the page the browser shows after the redirect. It is
// allowed by its hash in the page's Content-Security-Policy; nothing else
// (no script, no image, no external style) is.
const callbackCSS = `body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",sans-serif;` +
	`background:#f6f7f9;color:#1b1f24}main{max-width:34rem;margin:0 auto;padding:2rem 1rem}` +
	`h1{font-size:1.5rem;line-height:1.2;margin:0 0 .75rem}p{margin:0;padding:1rem 1.125rem;border-radius:.75rem;` +
	`background:#fff;border:1px solid #d0d7de;overflow-wrap:anywhere}.failed p{background:#fdecea;color:#8a1c12;border-color:currentColor}` +
	`@media (prefers-color-scheme:dark){body{background:#0f1419;color:#e6edf3}p{background:#161b22;border-color:#30363d}` +
	`.failed p{background:#2d1517;color:#ffb4ab}}`

// callbackHTML is the page the browser shows after the redirect.
const callbackHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · passkinit</title><style>{{.CSS}}</style></head>
<body><main{{if .Failed}} class="failed"{{end}}><h1>{{.Title}}</h1><p role="status">{{.Text}}</p></main></body></html>
`

// callbackCSP allows exactly callbackCSS.
func callbackCSP() string {
	h := sha256.Sum256([]byte(callbackCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

func (cb *callback) handle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", callbackCSP())
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	q := r.URL.Query()
	code, state := q.Get("code"), q.Get("state")
	if code == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cb.state)) != 1 {
		w.WriteHeader(http.StatusBadRequest)
		page(w, true, "Not for this passkinit", "This sign-in answer does not belong to the passkinit that is waiting. Start again.")
		return
	}
	first := false
	cb.once.Do(func() { first = true; cb.codes <- code })
	if !first {
		w.WriteHeader(http.StatusConflict)
		page(w, true, "Already used", "passkinit has already received a sign-in. You can close this window.")
		return
	}
	var res callbackResult
	select {
	case res = <-cb.result:
	case <-r.Context().Done():
		return
	case <-time.After(time.Minute):
		res.err = errors.New("passkinit did not finish in time")
	}
	if res.err != nil {
		w.WriteHeader(http.StatusForbidden)
		page(w, true, "Sign-in failed", "passkinit could not get your Kerberos ticket. "+PlainReason(res.err))
		return
	}
	page(w, false, "Signed in", "passkinit received your Kerberos ticket for "+res.principal+". You can close this window.")
}

func page(w io.Writer, failed bool, title, text string) {
	t, err := template.New("callback").Parse(callbackHTML)
	if err != nil {
		return
	}
	_ = t.Execute(w, struct {
		Title, Text string
		CSS         template.CSS
		Failed      bool
	}{title, text, template.CSS(callbackCSS), failed})
}

// OpenBrowser opens url in the user's browser: with $BROWSER when set (a
// colon-separated list of commands tried in order; "%s" in a command is
// replaced by the URL, else the URL is appended), otherwise with xdg-open
// (open on macOS, rundll32 on Windows). It does not wait for the browser.
func OpenBrowser(url string) error {
	var cmds [][]string
	if env := os.Getenv("BROWSER"); env != "" {
		for _, c := range strings.Split(env, ":") {
			if f := strings.Fields(c); len(f) > 0 {
				cmds = append(cmds, withURL(f, url))
			}
		}
	}
	switch runtime.GOOS {
	case "darwin":
		cmds = append(cmds, []string{"open", url})
	case "windows":
		cmds = append(cmds, []string{"rundll32", "url.dll,FileProtocolHandler", url})
	default:
		cmds = append(cmds, []string{"xdg-open", url})
	}
	var errs []error
	for _, c := range cmds {
		cmd := exec.Command(c[0], c[1:]...)
		if err := cmd.Start(); err != nil {
			errs = append(errs, err)
			continue
		}
		go func() { _ = cmd.Wait() }() // reap it; the browser outlives us
		return nil
	}
	return fmt.Errorf("no browser could be started (set $BROWSER): %w", errors.Join(errs...))
}

func withURL(fields []string, url string) []string {
	out := make([]string, 0, len(fields)+1)
	replaced := false
	for _, f := range fields {
		if strings.Contains(f, "%s") {
			f, replaced = strings.ReplaceAll(f, "%s", url), true
		}
		out = append(out, f)
	}
	if !replaced {
		out = append(out, url)
	}
	return out
}

// ShowURL returns an openURL for BrowserLogin that prints the sign-in URL to
// w, so that the user can open it by hand in a browser on this computer (the
// redirect goes to this computer's loopback address), and, when open is true,
// also starts the browser with OpenBrowser. A browser that cannot be started
// is reported on w, not as an error: the printed URL still works.
func ShowURL(w io.Writer, open bool) func(string) error {
	return func(url string) error {
		fmt.Fprintf(w, "Sign in with your passkey in a browser on this computer:\n\n    %s\n\n", url)
		if open {
			if err := OpenBrowser(url); err != nil {
				fmt.Fprintf(w, "Could not open a browser (%v); open the address above yourself.\n", err)
			}
		}
		return nil
	}
}

// PlainReason is err for the person at the browser: the server's sentence
// for a refusal (its stable code is for programs and the audit log), the
// error's own text otherwise.
func PlainReason(err error) string {
	var api *APIError
	if errors.As(err, &api) && api.Message != "" {
		return api.Message
	}
	return err.Error()
}
