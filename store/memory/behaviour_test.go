package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

var errBoom = errors.New("boom")

func alice() store.Principal {
	return store.Principal{Anchor: "a-1", Directory: "default", Name: "alice", Realm: "EXAMPLE.TEST", Enabled: true}
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// A panic in WithTx's function takes back its writes, goes on to the
// caller, and leaves the store usable.
func TestWithTxPanicRollsBack(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	func() {
		defer func() {
			if p := recover(); p != errBoom {
				t.Fatalf("recovered %v, want the function's panic", p)
			}
		}()
		_ = s.WithTx(ctx, func(tx store.Tx) error {
			if _, err := tx.UpsertPrincipal(ctx, alice()); err != nil {
				return err
			}
			panic(errBoom)
		})
	}()
	_, err := s.GetPrincipal(ctx, alice().Anchor)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("principal written by a panicking transaction: %v", err)
	}
	_, err = s.UpsertPrincipal(ctx, alice())
	mustDo(t, "upsert after the panic", err)
}

// A Tx kept beyond its WithTx refuses every operation.
func TestTxAfterWithTxRefuses(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	var kept store.Tx
	mustDo(t, "WithTx", s.WithTx(ctx, func(tx store.Tx) error { kept = tx; return nil }))
	if _, err := kept.UpsertPrincipal(ctx, alice()); err == nil {
		t.Fatal("upsert through an ended transaction: no error")
	}
	if _, err := kept.GetPrincipal(ctx, alice().Anchor); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read through an ended transaction: %v, want an error other than not found", err)
	}
	if _, err := s.GetPrincipal(ctx, alice().Anchor); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the ended transaction wrote: %v", err)
	}
}

// A Store method called from inside WithTx waits for the transaction, and
// gives up when its context ends instead of hanging.
func TestStoreMethodInsideWithTxEndsWithContext(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	err := s.WithTx(ctx, func(store.Tx) error {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := s.GetPrincipal(wctx, alice().Anchor)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nested call: %v, want the deadline", err)
	}
}

// A WithTx whose context ends before it commits is rolled back.
func TestWithTxCancelledBeforeCommit(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := s.WithTx(ctx, func(tx store.Tx) error {
		_, err := tx.UpsertPrincipal(ctx, alice())
		cancel()
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WithTx: %v, want canceled", err)
	}
	if _, err := s.GetPrincipal(t.Context(), alice().Anchor); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a cancelled transaction was committed: %v", err)
	}
	if n := s.Commits(); n != 0 {
		t.Fatalf("Commits = %d after a cancelled transaction", n)
	}
}

func TestCommits(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	_, err := s.UpsertPrincipal(ctx, alice())
	mustDo(t, "upsert", err)
	mustDo(t, "create session", s.CreateSession(ctx, store.Session{ID: "old", Kind: "login", ExpiresAt: time.Unix(100, 0)}))
	cases := []struct {
		name string
		op   func() error
		want int64 // commits it adds
	}{
		{"read", func() error { _, err := s.GetPrincipal(ctx, alice().Anchor); return err }, 0},
		{"failed read", func() error {
			_, err := s.GetPrincipal(ctx, "nope")
			return ignore(err, store.ErrNotFound)
		}, 0},
		{"write", func() error { return s.SetMemberships(ctx, alice().Anchor, []string{"g"}) }, 1},
		{"write that changes nothing", func() error { _, err := s.DeleteExpiredSessions(ctx, time.Unix(0, 0)); return err }, 0},
		{"directory write that changes no object (it moves the change marker)", func() error {
			return s.SetMemberships(ctx, "nobody", nil)
		}, 1},
		{"failed write", func() error { return ignore(s.DeleteTAP(ctx, "nope"), store.ErrNotFound) }, 0},
		{"consuming an expired session (it is deleted)", func() error {
			_, err := s.ConsumeSession(ctx, "old", "login", time.Unix(200, 0))
			return ignore(err, store.ErrExpired)
		}, 1},
		{"new generation", func() error { _, err := s.NextGeneration(ctx, "default"); return err }, 0},
		{"WithTx that only reads", func() error {
			return s.WithTx(ctx, func(tx store.Tx) error { _, err := tx.GetPrincipal(ctx, alice().Anchor); return err })
		}, 1},
		{"WithTx that fails", func() error {
			return ignore(s.WithTx(ctx, func(tx store.Tx) error {
				if _, err := tx.AppendAudit(ctx, store.AuditRecord{Event: "x"}); err != nil {
					return err
				}
				return errBoom
			}), errBoom)
		}, 0},
	}
	for _, tc := range cases {
		before := s.Commits()
		mustDo(t, tc.name, tc.op())
		if got := s.Commits() - before; got != tc.want {
			t.Errorf("%s: %d commits, want %d", tc.name, got, tc.want)
		}
	}
}

// ignore is err, nil when it wraps want (and an error when it does not).
func ignore(err, want error) error {
	switch {
	case errors.Is(err, want):
		return nil
	case err == nil:
		return errors.New("no error, want " + want.Error())
	}
	return err
}

// Audit IDs handed out in a rolled back transaction are not handed out again.
func TestAuditIDsNotReused(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	var inside int64
	err := s.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if inside, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "rolled back"}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("WithTx: %v", err)
	}
	id, err := s.AppendAudit(ctx, store.AuditRecord{Event: "kept"})
	mustDo(t, "append", err)
	if id <= inside {
		t.Fatalf("audit ID %d after the rolled back %d", id, inside)
	}
	recs, err := s.ListAudit(ctx, 0, 0)
	mustDo(t, "list", err)
	if len(recs) != 1 || recs[0].Event != "kept" {
		t.Fatalf("audit: %+v", recs)
	}
}

// The store keeps copies: changing a slice the caller passed or got back
// changes nothing stored.
func TestSlicesAreCopied(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	_, err := s.UpsertPrincipal(ctx, alice())
	mustDo(t, "upsert", err)
	c := store.Credential{ID: []byte("id"), Principal: alice().Anchor, PublicKey: []byte{1, 2}, Transports: []string{"usb"}}
	mustDo(t, "create", s.CreateCredential(ctx, c))
	c.PublicKey[0], c.Transports[0] = 9, "nfc"
	got, err := s.GetCredential(ctx, []byte("id"))
	mustDo(t, "get", err)
	got.PublicKey[1], got.Transports[0] = 9, "ble"
	again, err := s.GetCredential(ctx, []byte("id"))
	mustDo(t, "get again", err)
	if again.PublicKey[0] != 1 || again.PublicKey[1] != 2 || again.Transports[0] != "usb" {
		t.Fatalf("stored credential changed through a caller's slice: %+v", again)
	}
	groups := []string{"g2", "g1"}
	mustDo(t, "set memberships", s.SetMemberships(ctx, alice().Anchor, groups))
	groups[0] = "g9"
	members, err := s.GroupMembers(ctx, "g2")
	mustDo(t, "members", err)
	if len(members) != 1 {
		t.Fatalf("memberships changed through a caller's slice: members of g2 %v", members)
	}
}

func TestClose(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	mustDo(t, "ping", s.Ping(ctx))
	mustDo(t, "close", s.Close())
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping after close: no error")
	}
	for name, err := range map[string]error{
		"read":  func() error { _, err := s.GetPrincipal(ctx, "x"); return err }(),
		"write": func() error { _, err := s.UpsertPrincipal(ctx, alice()); return err }(),
		"tx":    s.WithTx(ctx, func(store.Tx) error { return nil }),
		"generation": func() error {
			_, err := s.NextGeneration(ctx, "default")
			return err
		}(),
	} {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after close: %v, want the store-closed error", name, err)
		}
	}
	mustDo(t, "close again", s.Close())
}
