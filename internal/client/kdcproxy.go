package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/passkdc/passkdc/kdc/kkdcp"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// maxProxyReply bounds a KDC proxy answer (a reply with a PAC is a few KiB).
const maxProxyReply = 1 << 20

// ErrKDCProxy: the KDC proxy refused the request or answered with something
// that is not a KDC proxy message.
var ErrKDCProxy = errors.New("KDC proxy")

// CheckKDCProxyURL accepts an https URL (http only for loopback tests).
func CheckKDCProxyURL(proxyURL string) error {
	u, err := url.Parse(proxyURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("KDC proxy URL %q: want https://host[:port]/KdcProxy", proxyURL)
	}
	return nil
}

// KDCProxy returns a transport that sends Kerberos messages for realm through
// the MS-KKDCP proxy at proxyURL, trusting the same CA as the passkdc client.
func (c *Client) KDCProxy(proxyURL, realm string) (tgs.Transport, error) {
	if err := CheckKDCProxyURL(proxyURL); err != nil {
		return nil, err
	}
	return func(ctx context.Context, msg []byte) ([]byte, error) {
		body, err := kkdcp.Message{KerbMessage: kkdcp.Frame(msg), Realm: realm}.Marshal()
		if err != nil {
			return nil, fmt.Errorf("%w: encode: %w", ErrKDCProxy, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, proxyURL, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKDCProxy, err)
		}
		req.Header.Set("Content-Type", "application/kerberos")
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrKDCProxy, proxyURL, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxProxyReply+1))
		if err != nil {
			return nil, fmt.Errorf("%w %s: read answer: %w", ErrKDCProxy, proxyURL, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%w %s answered %s: %s", ErrKDCProxy, proxyURL, resp.Status, bytes.TrimSpace(b))
		}
		return kkdcp.DecodeReply(b, maxProxyReply)
	}, nil
}
