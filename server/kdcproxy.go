package server

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/kdc/kkdcp"
)

// KDCProxyConfig enables POST /KdcProxy (MS-KKDCP).
type KDCProxyConfig struct {
	// Forwarder relays to the KDCs of the configured realms (its KDCs map
	// is the list of realms served: any other target-domain is refused).
	Forwarder *kkdcp.Forwarder
	// MaxBytes caps a KDC-PROXY-MESSAGE.
	MaxBytes int
	// PerAddressPerMinute and PerAddressBurst: token bucket per source address.
	PerAddressPerMinute, PerAddressBurst int
	// AdvertiseURL is sent to clients in every sign-in answer (kdc_proxy)
	// so that passkinit can fall back to it when no DC is reachable; "":
	// not advertised. It may name another KDC proxy (with a nil Forwarder,
	// passkdc only advertises it).
	AdvertiseURL string
}

// Outcomes of a /KdcProxy request (metric label "outcome", log field "reason").
const (
	proxyForwarded     = "forwarded"
	proxyContentType   = "content_type"
	proxyTooLarge      = "too_large"
	proxyNotDER        = "not_der"
	proxyOuterTag      = "outer_tag"
	proxyFraming       = "framing"
	proxyMessageType   = "message_type"
	proxyRealm         = "realm"
	proxyRateLimited   = "rate_limited"
	proxyUnreachable   = "kdc_unreachable"
	proxyBadReply      = "bad_reply"
	proxyClientTimeout = "client_timeout"
)

// kdcProxy is the /KdcProxy handler's state.
type kdcProxy struct {
	cfg       KDCProxyConfig
	byAddress *keyedLimiter
}

func (s *Server) registerKDCProxy(c *KDCProxyConfig) {
	if c == nil {
		return
	}
	s.advertisedProxy = c.AdvertiseURL
	if c.Forwarder == nil {
		return
	}
	s.proxy = &kdcProxy{cfg: *c, byAddress: newKeyedLimiter(c.PerAddressPerMinute, c.PerAddressBurst, s.limits.cfg.TrackedAddresses)}
	s.mux.HandleFunc("POST /KdcProxy", s.kdcProxy)
}

// kdcProxy relays one KDC-PROXY-MESSAGE: it is decoded and checked (size,
// DER, AS-REQ or TGS-REQ, served realm) before any KDC is contacted; the
// KDC's answer goes back in a KDC-PROXY-MESSAGE.
func (s *Server) kdcProxy(w http.ResponseWriter, r *http.Request) {
	p := s.proxy
	log := s.cfg.Log.WithField("remote", remoteHost(r))
	if ok, wait := p.byAddress.allow(remoteHost(r), s.cfg.Now()); !ok {
		s.proxyRefuse(w, log, proxyRateLimited, tooMany(w, CodeRateLimited, wait, "too many KDC proxy requests from this address; retry later"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/kerberos" {
		s.proxyRefuse(w, log, proxyContentType, newErrorStatus(http.StatusUnsupportedMediaType, CodeMalformedRequest, "content type must be application/kerberos"))
		return
	}
	body, reason, e := readProxyBody(r, p.cfg.MaxBytes)
	if e != nil {
		s.proxyRefuse(w, log, reason, e)
		return
	}
	msg, err := kkdcp.Decode(body, p.cfg.MaxBytes)
	if err != nil {
		reason := decodeReason(err)
		s.proxyRefuse(w, log, reason, newError(CodeMalformedRequest, "not a KDC proxy message this server relays: %v", err))
		return
	}
	log = log.WithField("realm", msg.Realm)
	reply, err := p.cfg.Forwarder.Forward(r.Context(), msg)
	if err != nil {
		reason, e := forwardError(err)
		log = log.WithError(err)
		s.proxyRefuse(w, log, reason, e)
		return
	}
	out, err := kkdcp.Message{KerbMessage: reply}.Marshal()
	if err != nil {
		s.proxyRefuse(w, log, proxyBadReply, newError(CodeKDCReply, "cannot encode the KDC's answer"))
		return
	}
	s.metrics.kdcProxy(proxyForwarded)
	log.WithFields(logrus.Fields{"result": "ok", "reason": proxyForwarded}).Debug("KDC proxy request relayed")
	w.Header().Set("Content-Type", "application/kerberos")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// readProxyBody reads at most max bytes; more is refused as too large.
func readProxyBody(r *http.Request, max int) ([]byte, string, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || err == nil && len(body) > max:
		return nil, proxyTooLarge, newError(CodeRequestTooLarge, "KDC proxy message is larger than %d bytes", max)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return nil, proxyClientTimeout, newError(CodeRequestTimeout, "the request body did not arrive in time")
	case err != nil:
		return nil, proxyNotDER, newError(CodeMalformedRequest, "cannot read the request body")
	}
	return body, "", nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// decodeReason maps a decoder refusal to its outcome label.
func decodeReason(err error) string {
	for _, c := range []struct {
		err    error
		reason string
	}{{kkdcp.ErrTooLarge, proxyTooLarge}, {kkdcp.ErrOuterTag, proxyOuterTag}, {kkdcp.ErrFraming, proxyFraming},
		{kkdcp.ErrMessageType, proxyMessageType}} {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	return proxyNotDER
}

// forwardError maps a forwarding failure to its outcome label and answer.
func forwardError(err error) (string, *apiError) {
	switch {
	case errors.Is(err, kkdcp.ErrRealm):
		return proxyRealm, newError(CodeRealmNotServed, "this KDC proxy does not serve that realm (target-domain): %v", strings.TrimPrefix(err.Error(), kkdcp.ErrRealm.Error()+": "))
	case errors.Is(err, kkdcp.ErrReply):
		return proxyBadReply, newError(CodeKDCReply, "the KDC answered with something that is not a Kerberos reply")
	}
	return proxyUnreachable, newError(CodeKDCUnreachable, "no KDC of the realm answered; try again later")
}

// proxyRefuse answers a refused /KdcProxy request, logs it with its reason and counts it.
func (s *Server) proxyRefuse(w http.ResponseWriter, log logrus.FieldLogger, reason string, e *apiError) {
	s.metrics.kdcProxy(reason)
	log.WithFields(logrus.Fields{"result": "refused", "reason": reason, "status": e.Status}).Warn("KDC proxy request refused: " + e.Message)
	writeError(w, e)
}
