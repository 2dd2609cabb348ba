package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
)

// signInCredentials is how many credentials BenchmarkSignInFinish signs in
// with (one per principal), so that concurrent clients rarely share a row.
const signInCredentials = 64

// BenchmarkSignInFinish measures the store work of one sign-in's finish as
// the server does it: the credential read with the change marker, then one
// transaction consuming the challenge, moving the sign counter and
// appending the audit record. It reports allocations, the process's CPU per
// sign-in (the client side only: PostgreSQL is another process) and the
// 99th percentile of a sign-in's latency, one client at a time and from
// several.
//
//	go test -run '^$' -bench SignInFinish -benchtime 3000x ./store/postgres
func BenchmarkSignInFinish(b *testing.B) {
	srv := pgtest.Start(b)
	s := openTest(b, srv.NewSchema(b))
	ctx := b.Context()
	for i := range signInCredentials {
		p := store.Principal{Anchor: fmt.Sprint("a-", i), Name: fmt.Sprint("user", i), Realm: "R", Enabled: true}
		if _, err := s.UpsertPrincipal(ctx, p); err != nil {
			b.Fatal(err)
		}
		c := store.Credential{ID: benchCredID(i), Principal: p.Anchor, PublicKey: make([]byte, 77),
			AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"}, CreatedAt: time.Now()}
		if err := s.CreateCredential(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	var round atomic.Int64
	for _, clients := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchFinish(b, s, clients, round.Add(1))
		})
	}
}

// benchCredID is the ID of the i-th benchmark credential.
func benchCredID(i int) []byte {
	return binary.BigEndian.AppendUint32([]byte("bench-credential-id-"), uint32(i))
}

func benchFinish(b *testing.B, s *Store, clients int, round int64) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([]time.Duration, b.N+clients)
	one := func() error {
		i := int(next.Add(1))
		challenge := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16),
			uint64(round)), uint64(i))
		t0 := time.Now()
		err := finishSignIn(ctx, s, challenge, (i*7919)%signInCredentials)
		lat[i-1] = time.Since(t0)
		return err
	}
	cpu0 := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	if clients == 1 {
		for range b.N {
			if err := one(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	done := lat[:min(int(next.Load()), len(lat))]
	slices.Sort(done)
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(done[len(done)*99/100].Microseconds()), "p99-µs")
}

// finishSignIn is the store work of a sign-in's finish (assertion's
// FinishLogin and the server's decision): read, then one transaction.
func finishSignIn(ctx context.Context, s store.Store, challenge []byte, i int) error {
	now := time.Now()
	c, _, err := s.GetCredentialAndMarker(ctx, benchCredID(i))
	if err != nil {
		return err
	}
	return s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.ConsumeChallenge(ctx, challenge, now.Add(time.Minute)); err != nil {
			return err
		}
		for {
			err := tx.UpdateCredentialUse(ctx, c.ID, c.SignCount, c.SignCount+1, false, now)
			if !errors.Is(err, store.ErrConflict) {
				if err != nil {
					return err
				}
				break
			}
			if c, err = tx.GetCredential(ctx, c.ID); err != nil { // a parallel sign-in moved it
				return err
			}
		}
		_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "login", Result: "ok",
			Principal: c.Principal, CredentialID: "x", KVNO: 1 << 16, Remote: "127.0.0.1", Detail: "user"})
		return err
	})
}

// processCPU is the CPU time of the process so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
