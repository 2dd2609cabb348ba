package server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// ReadyCheck is one component /readyz reports on (store, keytab, directory).
// Check returns nil when the component can serve sign-ins.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// readyCacheFor bounds how often /readyz reaches the components: an
// anonymous caller polling it cannot turn it into load on the DC.
const readyCacheFor = 5 * time.Second

// readiness runs the checks and keeps the answer for readyCacheFor.
type readiness struct {
	mu      sync.Mutex
	at      time.Time
	states  map[string]string
	healthy bool
}

// readyz answers 200 when every component is usable, 503 naming the ones
// that are not. Callers see only "ok" or "unavailable"; the reason is logged.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	states, ok := s.ready(r.Context())
	status, code := "ready", http.StatusOK
	if !ok {
		status, code = "not_ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": states})
}

func (s *Server) ready(ctx context.Context) (map[string]string, bool) {
	s.readiness.mu.Lock()
	defer s.readiness.mu.Unlock()
	now := s.cfg.Now()
	if s.readiness.states != nil && now.Sub(s.readiness.at) < readyCacheFor {
		return s.readiness.states, s.readiness.healthy
	}
	checks := append([]ReadyCheck{{Name: "store", Check: s.cfg.Store.Ping}}, s.cfg.Readiness...)
	states, healthy := make(map[string]string, len(checks)), true
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.Check(cctx)
		cancel()
		if err != nil {
			healthy = false
			states[c.Name] = "unavailable"
			s.cfg.Log.WithError(err).WithField("component", c.Name).Warn("readiness check failed")
			continue
		}
		states[c.Name] = "ok"
	}
	s.readiness.at, s.readiness.states, s.readiness.healthy = now, states, healthy
	return states, healthy
}
