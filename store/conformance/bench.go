package conformance

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// FinishSignIn is the store work of one sign-in's /v1/login/finish as the
// server does it: the credential and the change marker read, then one
// transaction consuming the challenge, moving the sign counter and appending
// the audit record. A counter moved by a parallel sign-in is read again.
func FinishSignIn(ctx context.Context, s store.Store, credID, challenge []byte) error {
	now := time.Now()
	c, _, err := s.GetCredentialAndMarker(ctx, credID)
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

// BenchSignInFinish runs b.N FinishSignIn on s, one after another (clients
// 1) or from clients concurrent clients, and reports allocations, the
// process's CPU per sign-in (cpu-µs/op: user and system time, so a store's
// fsyncs and socket writes count) and the latency of a sign-in at the 99th
// and 99.9th percentile and its maximum. Sign-in i uses the credential
// credID(i) (preloaded by the caller) and a challenge of its own; round
// tells apart the challenges of several runs on one store.
func BenchSignInFinish(b *testing.B, s store.Store, clients int, round int64, credID func(i int) []byte) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([]time.Duration, b.N+clients)
	one := func() error {
		i := int(next.Add(1))
		challenge := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16),
			uint64(round)), uint64(i))
		t0 := time.Now()
		err := FinishSignIn(ctx, s, credID(i), challenge)
		lat[i-1] = time.Since(t0)
		return err
	}
	cpu0 := ProcessCPU()
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
	b.ReportMetric(float64((ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(done[len(done)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(done[len(done)*999/1000].Microseconds()), "p999-µs")
	b.ReportMetric(float64(done[len(done)-1].Microseconds()), "max-µs")
}

// ProcessCPU is the CPU time of this process so far (user and system).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
