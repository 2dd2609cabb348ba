package chrometest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// negotiateReadyBody is what the readiness probe answers once Chromium sent
// a Negotiate token.
const negotiateReadyBody = "negotiate-ready"

// WaitNegotiate returns once Chromium answers an HTTP Negotiate challenge
// for host with a token of its own (GSSAPI, from the credential cache named
// in Options.Env). Chromium refuses Negotiate (ERR_UNSUPPORTED_AUTH_SCHEME,
// before loading GSSAPI) until its network service has been told it may
// load the library, a fraction of a second after start; a page that asks
// earlier gets no token. The probe is a plain-HTTP server on 127.0.0.1 that
// the test reaches as host (the caller maps host to 127.0.0.1 with
// host-resolver-rules and allowlists it): the SPN is HTTP@host, the port
// plays no part, so the ticket is the one the real server will get. The
// probe only looks at the scheme; it never validates or keeps the token.
func (c *Chrome) WaitNegotiate(host string) {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(negotiateProbe), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	url := "http://" + host + ":" + port + "/"
	deadline := time.Now().Add(15 * time.Second)
	for tries := 0; ; tries++ {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		var body string
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		if err == nil {
			body, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		}
		cancel()
		if err == nil && strings.TrimSpace(body) == negotiateReadyBody {
			return
		}
		if time.Now().After(deadline) || tries >= 60 {
			c.t.Fatalf("Chromium sent no Negotiate token for %s after %d tries (last answer %q, error %v): "+
				"is the host allowlisted (auth-server-allowlist) and KRB5CCNAME/KRB5_CONFIG in Options.Env?", host, tries+1, body, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// negotiateProbe challenges every request without a Negotiate token and
// answers negotiateReadyBody to one with a token.
func negotiateProbe(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("Authorization"), "Negotiate ") {
		fmt.Fprint(w, negotiateReadyBody)
		return
	}
	w.Header().Set("WWW-Authenticate", "Negotiate")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, "no token yet")
}
