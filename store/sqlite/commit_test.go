package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// TestGroupCommitIsolatesWrites: concurrent standalone writes, some of which
// fail (a duplicate session, a sign counter that moved, an unknown
// credential), each get their own answer when they share a group
// transaction; the failed ones leave nothing behind and every acknowledged
// one is stored.
func TestGroupCommitIsolatesWrites(t *testing.T) {
	linger := defaultOptions()
	linger.linger = 200 * time.Microsecond
	for name, o := range map[string]options{"default": defaultOptions(), "linger": linger} {
		t.Run(name, func(t *testing.T) { testGroupCommitIsolatesWrites(t, o) })
	}
}

func testGroupCommitIsolatesWrites(t *testing.T, o options) {
	ctx := t.Context()
	s := openTest(t, o)
	now := time.Now().UTC()
	if _, err := s.UpsertPrincipal(ctx, store.Principal{Anchor: "a1", Name: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCredential(ctx, store.Credential{ID: []byte("c1"), Principal: "a1", PublicKey: []byte{1}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, store.Session{ID: "dup", Kind: "login", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const rounds = 40
	type outcome struct {
		name string
		err  error
	}
	var wg sync.WaitGroup
	results := make(chan outcome, rounds*4)
	for i := range rounds {
		wg.Go(func() {
			id := fmt.Sprintf("s%d", i)
			err := s.CreateSession(ctx, store.Session{ID: id, Kind: "login", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			results <- outcome{"session " + id, err}
		})
		wg.Go(func() {
			err := s.CreateSession(ctx, store.Session{ID: "dup", Kind: "login", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			results <- outcome{"dup", err}
		})
		wg.Go(func() {
			// Counter 0 → i+1: exactly one of these wins, the others conflict.
			err := s.UpdateCredentialUse(ctx, []byte("c1"), 0, uint32(i+1), false, now)
			results <- outcome{"counter", err}
		})
		wg.Go(func() {
			_, err := s.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok", Detail: fmt.Sprint(i)})
			results <- outcome{"audit", err}
		})
	}
	wg.Wait()
	close(results)
	counterWins := 0
	for r := range results {
		switch {
		case r.name == "dup":
			if !errors.Is(r.err, store.ErrExists) {
				t.Errorf("duplicate session: %v, want ErrExists", r.err)
			}
		case r.name == "counter":
			if r.err == nil {
				counterWins++
			} else if !errors.Is(r.err, store.ErrConflict) {
				t.Errorf("counter update: %v, want nil or ErrConflict", r.err)
			}
		case r.err != nil:
			t.Errorf("%s: %v", r.name, r.err)
		}
	}
	if counterWins != 1 {
		t.Errorf("%d counter updates from 0 succeeded, want exactly 1", counterWins)
	}
	if n, err := s.CountSessions(ctx, "", "login", now); err != nil || n != rounds+1 {
		t.Fatalf("sessions: %d, %v; want %d", n, err, rounds+1)
	}
	audit, err := s.ListAudit(ctx, 0, 0)
	if err != nil || len(audit) != rounds {
		t.Fatalf("audit records: %d, %v; want %d", len(audit), err, rounds)
	}
	if n := s.commit.largest.Load(); n < 2 {
		t.Errorf("largest group: %d writes; the test did not exercise group commit", n)
	}
}

// TestGroupCommitCancelledWriter: a writer whose context ends while others
// are queued gets its context's error and does not disturb the others.
func TestGroupCommitCancelledWriter(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			c := ctx
			if i%2 == 0 {
				c = cancelled
			}
			_, errs[i] = s.AppendAudit(c, store.AuditRecord{Event: "x"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && !errors.Is(err, context.Canceled) {
			t.Errorf("write %d with a cancelled context: %v", i, err)
		}
		if i%2 == 1 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if audit, err := s.ListAudit(ctx, 0, 0); err != nil || len(audit) != len(errs)/2 {
		t.Fatalf("audit records: %d, %v; want %d", len(audit), err, len(errs)/2)
	}
}

// TestWriteAfterClose: a write after Close fails instead of hanging.
func TestWriteAfterClose(t *testing.T) {
	s, err := open(t.Context(), t.TempDir()+"/passkdc.db", defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.AppendAudit(t.Context(), store.AuditRecord{Event: "x"}); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("write after Close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("write after Close hangs")
	}
}

// TestGroupCommitQueuedWriter: while one write holds the writer, a queued
// write whose context ends returns its context's error and is not written;
// the others queued with it commit as one group once the writer is free.
func TestGroupCommitQueuedWriter(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, defaultOptions())
	release, holding := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.WithTx(ctx, func(tx store.Tx) error {
			close(holding)
			<-release
			_, err := tx.AppendAudit(ctx, store.AuditRecord{Event: "holder"})
			return err
		})
	}()
	<-holding
	cancelled, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { _, err := s.AppendAudit(cancelled, store.AuditRecord{Event: "cancelled"}); gone <- err }()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.AppendAudit(ctx, store.AuditRecord{Event: "queued"}) })
	}
	for deadline := time.Now().Add(5 * time.Second); s.commit.queueLen() < len(errs)+1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", s.commit.queueLen(), len(errs)+1)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued write with a cancelled context: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued write with a cancelled context waits for the writer")
	}
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("queued write %d: %v", i, err)
		}
	}
	recs, err := s.ListAudit(ctx, 0, 0)
	if err != nil || len(recs) != len(errs)+1 {
		t.Fatalf("audit records: %d, %v; want %d", len(recs), err, len(errs)+1)
	}
	for _, r := range recs {
		if r.Event == "cancelled" {
			t.Fatal("the cancelled write was stored")
		}
	}
	if n := s.commit.largest.Load(); n < int64(len(errs)) {
		t.Fatalf("largest group %d, want the %d queued writes together", n, len(errs))
	}
}
