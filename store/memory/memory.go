// Package memory is a complete store.Store kept in memory, for tests and
// demos, not for production: nothing reaches a disk, everything is gone on
// Close or exit, and one transaction at a time has the whole store.
//
// It owns the in-memory form of the store's data and of its transactions:
// WithTx runs with the store to itself and an undo log takes back every
// write of a function that fails (or panics); each of the Store's own
// methods is a transaction of its own. It passes store/conformance like the
// SQL backends, so a test that uses it sees the contract of store.Store, not
// a fake's approximation of it. It holds data, never policy (it does not
// decide who may sign in), and it must not stand in for a backend whose
// state has to survive a restart.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/passkdc/passkdc/store"
)

// errClosed is returned by every operation after Close.
var errClosed = errors.New("memory: store is closed")

// Store is the in-memory backend. The zero value is not usable: call New.
type Store struct {
	// lock (capacity 1) is held by the one running transaction. A channel,
	// not a mutex, so that waiting for it ends with the caller's context
	// (a Store method called from inside WithTx waits for its own
	// transaction: it returns when ctx ends instead of hanging forever).
	lock chan struct{}
	// Guarded by lock.
	d         *data
	gens      map[string]int64 // last generation allocated, by directory
	lastAudit int64            // last audit ID handed out

	closed  atomic.Bool
	commits atomic.Int64
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{lock: make(chan struct{}, 1), d: newData(), gens: map[string]int64{}}
}

// acquire takes the store for one transaction, or fails when ctx ends first
// or the store is closed.
func (s *Store) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: begin: %w", err)
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("memory: begin: waiting for the running transaction: %w", ctx.Err())
	}
	if s.closed.Load() {
		s.release()
		return errClosed
	}
	return nil
}

func (s *Store) release() { <-s.lock }

// run runs fn in a transaction. It commits when fn returns nil, and for a
// standalone call (whole false) also when fn fails with store.ErrExpired
// (the expiry consumed the session or pass, as the contract says); any
// other failure, or a panic, takes back fn's writes. A WithTx (whole true)
// whose context ended meanwhile is rolled back too, as a SQL commit would be.
func (s *Store) run(ctx context.Context, whole bool, fn func(t *tx) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	t := &tx{s: s, d: s.d}
	committed := false
	defer func() {
		if !committed {
			t.rollback()
		}
		t.done.Store(true)
		s.release()
	}()
	err := fn(t)
	if err != nil && (whole || !errors.Is(err, store.ErrExpired)) {
		return err
	}
	if whole {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("memory: commit: %w", cerr)
		}
	}
	committed = true
	if whole || t.wrote() {
		s.commits.Add(1)
	}
	return err
}

// call is run for a standalone method with a result.
func call[T any](ctx context.Context, s *Store, fn func(t *tx) (T, error)) (T, error) {
	var v T
	err := s.run(ctx, false, func(t *tx) error {
		var err error
		v, err = fn(t)
		return err
	})
	return v, err
}

// WithTx runs fn in one transaction: committed when fn returns nil, every
// write of fn taken back otherwise (fn's error is returned as is; a panic in
// fn is rolled back and goes on). fn has the store to itself: calling the
// Store's own methods from fn waits for fn, until ctx ends. tx must not be
// used after fn returns (its methods then fail).
func (s *Store) WithTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.run(ctx, true, func(t *tx) error { return fn(t) })
}

// NextGeneration allocates a new sync generation for directory: one more
// than the last allocated for it (the first is 1). Like a SQL sequence it is
// not part of any transaction and is not counted by Commits.
func (s *Store) NextGeneration(ctx context.Context, directory string) (int64, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.release()
	s.gens[directory]++
	return s.gens[directory], nil
}

// Commits is how many transactions have changed the store: every WithTx
// whose function returned nil (whatever it did), and every call of one of
// the Store's own methods that wrote something. Reads, failed calls, rolled
// back transactions and NextGeneration do not count. Tests use it to prove
// that an operation wrote nothing.
func (s *Store) Commits() int64 { return s.commits.Load() }

// Ping fails once the store is closed.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// Close drops the data, after the running transaction if there is one.
// Every later operation fails; closing again does nothing.
func (s *Store) Close() error {
	s.lock <- struct{}{}
	defer s.release()
	s.closed.Store(true)
	s.d = nil
	return nil
}
