package samba

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// SharedStartTimeout bounds the lazy start done by Shared.DC.
const SharedStartTimeout = 3 * time.Minute

// Shared is one DC shared by the tests of a package: started by the first
// test that calls DC, stopped by Run once all tests are done. See the
// package documentation for the TestMain pattern.
type Shared struct {
	opts Options

	mu      sync.Mutex
	started bool
	dc      *DC
	err     error
}

// NewShared prepares a shared DC; nothing is started yet.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// DC returns the shared DC, starting it on first use. It calls Require
// first (skip, or fail when CI=true, if tools are missing). If the start
// failed once, every later caller fails at once with the same error.
func (s *Shared) DC(t testing.TB) *DC {
	t.Helper()
	Require(t)
	RequireGeneration(t, s.opts.Generation)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		// A missing chroot is built first, under its own (longer) bound.
		if s.err = PrepareGeneration(context.Background(), s.opts.Generation); s.err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), SharedStartTimeout)
			s.dc, s.err = Start(ctx, s.opts)
			cancel()
		}
		if s.err == nil {
			t.Logf("samba %s DC on %s: %+v", s.dc.Generation(), s.dc.IP(), s.dc.Timings())
		}
	}
	if s.err != nil {
		t.Fatalf("shared samba DC: %v", s.err)
	}
	return s.dc
}

// Started returns the DC if one was started successfully, else nil.
func (s *Shared) Started() *DC {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dc
}

// Stop stops the DC if one was started.
func (s *Shared) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dc == nil {
		return nil
	}
	return s.dc.Stop()
}

// Run runs the tests and stops the DC afterwards, also when m.Run panics.
// Use it from TestMain: os.Exit(shared.Run(m)). A failure to stop turns a
// passing run into exit code 1.
func (s *Shared) Run(m *testing.M) (code int) {
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping shared samba DC: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return m.Run()
}
