package kkdcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoSRV: DNS holds no usable _kerberos._tcp SRV record for the realm.
var ErrNoSRV = errors.New("no _kerberos._tcp SRV record")

// SRV finds a realm's KDCs in DNS: the _kerberos._tcp.REALM SRV records
// (RFC 4120 §7.2.3.2), lowest priority first and by weight within a
// priority (RFC 2782, as net.Resolver orders them). An answer is reused for
// TTL; when a new lookup fails the last answer is used until one succeeds.
// Go's resolver does not expose record TTLs, so TTL is the only bound.
type SRV struct {
	// Resolver asks DNS (nil: net.DefaultResolver).
	Resolver *net.Resolver
	// TTL is how long an answer is reused; 0: 1 minute.
	TTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]srvAnswer
}

type srvAnswer struct {
	kdcs    []string
	expires time.Time
}

// KDCs returns the KDC addresses (host:port) of realm from DNS.
func (s *SRV) KDCs(ctx context.Context, realm string) ([]string, error) {
	realm = strings.ToUpper(realm)
	now := s.now()
	s.mu.Lock()
	cached, ok := s.cache[realm]
	s.mu.Unlock()
	if ok && now.Before(cached.expires) {
		return cached.kdcs, nil
	}
	kdcs, err := s.lookup(ctx, realm)
	if err != nil {
		if ok {
			return cached.kdcs, nil // stale beats none while DNS is down
		}
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]srvAnswer{}
	}
	s.cache[realm] = srvAnswer{kdcs: kdcs, expires: now.Add(s.ttl())}
	s.mu.Unlock()
	return kdcs, nil
}

func (s *SRV) lookup(ctx context.Context, realm string) ([]string, error) {
	r := s.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	_, recs, err := r.LookupSRV(ctx, "kerberos", "tcp", realm)
	if err != nil {
		return nil, fmt.Errorf("%w for %s: %w", ErrNoSRV, realm, err)
	}
	var out []string
	for _, rec := range recs {
		if rec.Target == "." || rec.Target == "" { // "service not available here"
			continue
		}
		out = append(out, net.JoinHostPort(strings.TrimSuffix(rec.Target, "."), strconv.Itoa(int(rec.Port))))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoSRV, realm)
	}
	return out, nil
}

func (s *SRV) ttl() time.Duration {
	if s.TTL <= 0 {
		return time.Minute
	}
	return s.TTL
}

func (s *SRV) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
