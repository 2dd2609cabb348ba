package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// DefaultConnectTimeout is how long passkinit waits for a TCP connection to
// a DC before it tries the next one (and, when none connects, the KDC proxy).
const DefaultConnectTimeout = 3 * time.Second

// Route is how a partial TGT reaches a DC.
type Route struct {
	// KDCs are the DCs tried directly over TCP, in order.
	KDCs []string
	// Proxy is a KDC proxy URL (MS-KKDCP). With ProxyOnly it is the only
	// path; otherwise it is the fallback when no DC accepts a connection.
	Proxy     string
	ProxyOnly bool
	// ConnectTimeout bounds each TCP connection attempt (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
}

// Path says which way an exchange went.
type Path struct {
	// Proxy is the KDC proxy URL used, or "" when a DC answered directly.
	Proxy string
	// KDC is the DC that answered directly ("" through the proxy).
	KDC string
	// Unreached explains why the DCs were passed over (nil: not tried or one answered).
	Unreached error
}

// String is the user-facing description of the path.
func (p Path) String() string {
	switch {
	case p.Proxy == "":
		return "exchanged at the DC " + p.KDC + " directly"
	case p.Unreached != nil:
		return fmt.Sprintf("no DC reachable (%v); exchanged through the KDC proxy %s", p.Unreached, p.Proxy)
	}
	return "exchanged through the KDC proxy " + p.Proxy
}

// ErrNoRoute: no DC could be reached and no KDC proxy is known.
var ErrNoRoute = errors.New("no DC reachable and no KDC proxy known")

// ExchangeRoute trades the partial TGT along r: through the proxy when
// r.ProxyOnly, else at the first DC that accepts a TCP connection, falling
// back to r.Proxy only when none does. A DC's answer, an error reply
// included, is final: the proxy is not asked to second-guess a DC.
func (c *Client) ExchangeRoute(ctx context.Context, si *SignedIn, r Route) (*ccache.CCache, Path, error) {
	if r.ProxyOnly {
		return c.viaProxy(ctx, si, r.Proxy, nil)
	}
	timeout := r.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	var unreached []error
	for _, kdc := range r.KDCs {
		cc, err := ExchangeForTGTVia(ctx, si, nil, tgs.TCP(kdc, timeout))
		if err == nil {
			return cc, Path{KDC: kdc}, nil
		}
		if !errors.Is(err, tgs.ErrConnect) || ctx.Err() != nil {
			return nil, Path{KDC: kdc}, err
		}
		unreached = append(unreached, errors.Unwrap(err))
	}
	why := errors.Join(unreached...)
	if len(r.KDCs) == 0 {
		why = errors.New("no DC configured for the realm")
	}
	if r.Proxy == "" {
		return nil, Path{}, fmt.Errorf("%w: %w; give one with --kdc-proxy", ErrNoRoute, why)
	}
	return c.viaProxy(ctx, si, r.Proxy, why)
}

func (c *Client) viaProxy(ctx context.Context, si *SignedIn, proxy string, why error) (*ccache.CCache, Path, error) {
	p := Path{Proxy: proxy, Unreached: why}
	t, err := c.KDCProxy(proxy, si.Cred.Infos[0].SRealm)
	if err != nil {
		return nil, p, err
	}
	cc, err := ExchangeForTGTVia(ctx, si, nil, t)
	if err != nil && why != nil {
		err = fmt.Errorf("%w (no DC was reachable directly: %w)", err, why)
	}
	return cc, p, err
}
