package server

import (
	"container/list"
	"context"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/passkdc/passkdc/assertion"
)

// Stable codes of the limits.
const (
	CodeRateLimited     = "rate_limited"      // too many requests from this address or for this principal
	CodeTooManySessions = "too_many_sessions" // too many open ceremonies for this principal, or in all
	CodeRequestTooLarge = "request_too_large" // body above limits.body_bytes
)

// keyedLimiter is a token bucket per key (client address, address and
// principal), with a bounded number of keys. When the table is full, a new
// key takes the place of the least recently seen key only when that key's
// bucket is full again (forgetting it loses nothing); otherwise the new key is
// refused: evicting an exhausted bucket would reset it.
type keyedLimiter struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int
	keys  map[string]*list.Element
	lru   *list.List // of *limiterEntry, most recent at the front
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(perMinute, burst, maxKeys int) *keyedLimiter {
	return &keyedLimiter{limit: rate.Limit(float64(perMinute) / 60), burst: burst, max: maxKeys,
		keys: map[string]*list.Element{}, lru: list.New()}
}

// fullWait is what allow answers for a new key while the table is full of
// keys still spending: retry once the oldest bucket could have refilled.
func (k *keyedLimiter) fullWait(now time.Time) time.Duration {
	old := k.lru.Back().Value.(*limiterEntry).lim
	missing := float64(k.burst) - old.TokensAt(now)
	return time.Duration(missing / float64(k.limit) * float64(time.Second))
}

// allow takes one token for key at now; when none is left, or the key is new
// and the table is full, it returns false and how long until one is.
func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	el, ok := k.keys[key]
	if ok {
		k.lru.MoveToFront(el)
	} else {
		if k.lru.Len() >= k.max {
			old := k.lru.Back()
			if old.Value.(*limiterEntry).lim.TokensAt(now) < float64(k.burst) {
				return false, k.fullWait(now)
			}
			k.lru.Remove(old)
			delete(k.keys, old.Value.(*limiterEntry).key)
		}
		el = k.lru.PushFront(&limiterEntry{key: key, lim: rate.NewLimiter(k.limit, k.burst)})
		k.keys[key] = el
	}
	lim := el.Value.(*limiterEntry).lim
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(k.limit) * float64(time.Second))
}

// addressKey is the limiter key of a client address: the address itself,
// or for IPv6 its /64 (one subscriber usually holds a whole /64, so keying by
// full address would give one client 2^64 buckets).
func addressKey(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip.Is4() {
		return host // netip parses only the canonical dotted quad: no new string
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().String()
}

// limits holds the server's limiters and the cached count of open sessions.
type limits struct {
	cfg         Limits
	byAddress   *keyedLimiter
	byPrincipal *keyedLimiter // spent only after a verified assertion (login/finish)
	// byAddressPrincipal limits the begins naming one principal from one
	// address: anyone may send them, so they never spend the principal's own
	// budget (nobody can lock a user out by knowing the name).
	byAddressPrincipal *keyedLimiter

	mu         sync.Mutex
	totalAt    time.Time
	totalCount int
	counting   bool // a request is counting the sessions in the store
}

func newLimits(c Limits) *limits {
	return &limits{cfg: c,
		byAddress:          newKeyedLimiter(c.PerAddressPerMinute, c.PerAddressBurst, c.TrackedAddresses),
		byPrincipal:        newKeyedLimiter(c.PerPrincipalPerMinute, c.PerPrincipalBurst, c.TrackedAddresses),
		byAddressPrincipal: newKeyedLimiter(c.PerPrincipalPerMinute, c.PerPrincipalBurst, c.TrackedAddresses)}
}

// withDefaults fills every unset (zero) limit with its default.
func limitsWithDefaults(c Limits) Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&c.BodyBytes, &d.BodyBytes}, {&c.PerAddressPerMinute, &d.PerAddressPerMinute}, {&c.PerAddressBurst, &d.PerAddressBurst},
		{&c.PerPrincipalPerMinute, &d.PerPrincipalPerMinute}, {&c.PerPrincipalBurst, &d.PerPrincipalBurst},
		{&c.SessionsPerPrincipal, &d.SessionsPerPrincipal}, {&c.SessionsTotal, &d.SessionsTotal},
		{&c.TrackedAddresses, &d.TrackedAddresses}, {&c.MaxHeaderBytes, &d.MaxHeaderBytes},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&c.ReadTimeout, &d.ReadTimeout}, {&c.WriteTimeout, &d.WriteTimeout},
		{&c.IdleTimeout, &d.IdleTimeout}, {&c.RequestTimeout, &d.RequestTimeout}, {&c.ShutdownTimeout, &d.ShutdownTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return c
}

// NewHTTPServer returns an http.Server for h with the configured timeouts and
// header cap (zero limits take their defaults).
func NewHTTPServer(addr string, h http.Handler, c Limits) *http.Server {
	c = limitsWithDefaults(c)
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
	}
}

// exempt: health and metrics are not rate limited (probes and scrapers).
func exempt(r *http.Request) bool {
	return r.URL.Path == "/healthz" || r.URL.Path == "/metrics"
}

// tooMany is a 429 with Retry-After (whole seconds, at least 1).
func tooMany(w http.ResponseWriter, code string, wait time.Duration, format string, args ...any) *apiError {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return newErrorStatus(http.StatusTooManyRequests, code, format, args...)
}

// limitRequest applies the per-address limit, the body cap and the request
// timeout. It answers and returns false when the request is refused. A
// refusal by address is logged and counted but not stored in the audit trail:
// a flood must not turn into a flood of writes.
func (s *Server) limitRequest(w http.ResponseWriter, r *http.Request) (*http.Request, context.CancelFunc, bool) {
	if !exempt(r) {
		ok, wait := s.limits.byAddress.allow(addressKey(remoteHost(r)), s.cfg.Now())
		if !ok {
			s.metrics.limitedBy("address")
			s.cfg.Log.WithFields(logrus.Fields{"remote": remoteHost(r), "result": "refused", "reason": CodeRateLimited}).
				Debug("request refused by the per-address rate limit")
			writeError(w, tooMany(w, CodeRateLimited, wait, "too many requests from this address; retry later"))
			return r, func() {}, false
		}
		// Sign-in begins store nothing (a sealed challenge): only the
		// ceremonies that store a session count against the bound.
		if strings.HasSuffix(r.URL.Path, "/begin") && r.URL.Path != loginBeginPath && r.Method == http.MethodPost {
			if e := s.totalSessionRoom(r.Context(), w); e != nil {
				s.metrics.limitedBy("sessions")
				s.fail(r.Context(), w, s.event(r, "session.limit"), e)
				return r, func() {}, false
			}
		}
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.limits.cfg.BodyBytes))
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.limits.cfg.RequestTimeout)
	return r.WithContext(ctx), cancel, true
}

// principalAllowed applies the per-principal rate limit. It is checked only
// after a verified assertion (login/finish): a request anyone can send must
// not spend it, or knowing a name would be enough to lock its user out.
func (s *Server) principalAllowed(w http.ResponseWriter, anchor string) *apiError {
	if anchor == "" {
		return nil
	}
	if ok, wait := s.limits.byPrincipal.allow(anchor, s.cfg.Now()); !ok {
		s.metrics.limitedBy("principal")
		return tooMany(w, CodeRateLimited, wait, "too many sign-in attempts for this account; retry later")
	}
	return nil
}

// beginAllowed limits a begin naming principal anchor: by client address and
// principal together (the per-address limit applies to every request already),
// never by the principal's own budget. With kind register it also bounds the
// principal's open registration ceremonies; only a holder of a valid pass can
// open those, so anonymous sign-in begins cannot fill the bound.
func (s *Server) beginAllowed(ctx context.Context, w http.ResponseWriter, r *http.Request, anchor, kind string) *apiError {
	if anchor == "" {
		return nil
	}
	if ok, wait := s.limits.byAddressPrincipal.allow(addressKey(remoteHost(r))+"\x00"+anchor, s.cfg.Now()); !ok {
		s.metrics.limitedBy("address_principal")
		return tooMany(w, CodeRateLimited, wait, "too many attempts for this account from this address; retry later")
	}
	if kind != assertion.KindRegister {
		return nil
	}
	n, err := s.cfg.Store.CountSessions(ctx, anchor, kind, s.cfg.Now())
	if err != nil {
		return newError(CodeStoreUnavailable, "cannot count open sessions right now")
	}
	if n >= s.limits.cfg.SessionsPerPrincipal {
		s.metrics.limitedBy("sessions")
		return tooMany(w, CodeTooManySessions, s.sessionTTLHint(), "this account has %d unfinished ceremonies; finish or wait for them to expire", n)
	}
	return nil
}

// totalSessionRoom bounds all open sessions. The count is cached for a
// second, so the bound may be passed by what one second of begins creates.
// The store is counted outside the lock, by one request at a time: the
// others go on with the cached count meanwhile instead of queueing behind
// the query (no global lock on the hot path across a store call).
func (s *Server) totalSessionRoom(ctx context.Context, w http.ResponseWriter) *apiError {
	now := s.cfg.Now()
	l := s.limits
	l.mu.Lock()
	stale := now.Sub(l.totalAt) > time.Second || now.Before(l.totalAt)
	// Before the first count there is no cached one to go on with.
	refresh := stale && (!l.counting || l.totalAt.IsZero())
	if refresh {
		l.counting = true
	}
	l.mu.Unlock()
	if refresh {
		n, err := s.cfg.Store.CountSessions(ctx, "", "", now)
		l.mu.Lock()
		l.counting = false
		if err == nil {
			l.totalAt, l.totalCount = now, n
		}
		l.mu.Unlock()
		if err != nil {
			return newError(CodeStoreUnavailable, "cannot count open sessions right now")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.totalCount >= l.cfg.SessionsTotal {
		return tooMany(w, CodeTooManySessions, s.sessionTTLHint(), "the server has too many unfinished ceremonies; retry later")
	}
	l.totalCount++
	return nil
}

func (s *Server) sessionTTLHint() time.Duration { return 30 * time.Second }
