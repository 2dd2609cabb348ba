package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
)

// BenchmarkSignIn measures the store's share of a sign-in, as two replicas
// sharing one database run it: a standalone CreateSession (begin), then one
// transaction that consumes the session, reads the credential, moves its
// counter and appends the audit record (finish). Each goroutine signs in with
// its own credential, alternating between the replicas.
//
//	go test -run '^$' -bench SignIn -benchtime 2s ./store/postgres
func BenchmarkSignIn(b *testing.B) {
	srv := pgtest.Start(b)
	url := srv.NewSchema(b)
	replicas := []*Store{openTest(b, url), openTest(b, url)}
	ctx := b.Context()
	_, err := replicas[0].UpsertPrincipal(ctx, store.Principal{Anchor: "a-1", Name: "alice", Realm: "R"})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1)
		s := replicas[g%2]
		id := []byte(fmt.Sprint("cred-", g))
		if err := s.CreateCredential(ctx, store.Credential{ID: id, Principal: "a-1", PublicKey: []byte{1}}); err != nil {
			b.Error(err)
			return
		}
		for i := 0; pb.Next(); i++ {
			if err := signIn(b, s, id, fmt.Sprint(g, "-", i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// signIn runs one begin and finish on s with credential id.
func signIn(b *testing.B, s *Store, id []byte, session string) error {
	ctx := b.Context()
	now := time.Now()
	err := s.CreateSession(ctx, store.Session{ID: session, Kind: "login", Principal: "a-1",
		Data: make([]byte, 300), CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		return err
	}
	return s.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.ConsumeSession(ctx, session, "login", now); err != nil {
			return err
		}
		c, err := tx.GetCredential(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.UpdateCredentialUse(ctx, id, c.SignCount, c.SignCount+1, false, now); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok", Principal: "alice"})
		return err
	})
}
