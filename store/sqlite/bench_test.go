package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/conformance"
)

// benchPrincipals is how many principals (each with one credential) the
// benchmarks preload.
const benchPrincipals = 10000

func benchAnchor(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func benchCredID(i int) []byte {
	id := make([]byte, 32)
	binary.BigEndian.PutUint64(id, uint64(i))
	return id
}

// benchTemplate builds, once per benchmark, a closed database file with the
// preloaded principals and credentials; each sub-benchmark copies it.
func benchTemplate(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "template.db")
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	err = s.WithTx(ctx, func(tx store.Tx) error {
		for i := 0; i < benchPrincipals; i++ {
			name := fmt.Sprintf("user%05d", i)
			p := store.Principal{Anchor: benchAnchor(i), Directory: "default", Name: name,
				Realm: "CORP.EXAMPLE.TEST", UPN: name + "@corp.example.test",
				SID: fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+i), DN: "CN=" + name + ",CN=Users,DC=corp",
				Enabled: true, SyncedAt: now, Generation: 1}
			if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
				return err
			}
			c := store.Credential{ID: benchCredID(i), Principal: p.Anchor, Name: "key",
				PublicKey: make([]byte, 77), AAGUID: make([]byte, 16), Transports: []string{"usb"},
				SignCount: 1, UserVerified: true, Profile: "default", CreatedAt: now}
			if err := tx.CreateCredential(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchStore copies the template and opens it with o.
func benchStore(b *testing.B, template string, o options) *Store {
	b.Helper()
	path := filepath.Join(b.TempDir(), "passkdc.db")
	if err := copyFile(template, path); err != nil {
		b.Fatal(err)
	}
	s, err := open(context.Background(), path, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// createSessions stores n login sessions "s<i>" in one transaction.
func createSessions(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	err := s.WithTx(ctx, func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			se := store.Session{ID: fmt.Sprint("s", i), Kind: "login", Data: make([]byte, 200),
				BindingKey: make([]byte, 32), CreatedAt: time.Now(), ExpiresAt: exp}
			if err := tx.CreateSession(ctx, se); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// signIn is the store side of /v1/login/finish: one transaction consuming the
// challenge session, reading and advancing the credential, reading the
// principal and writing the audit record. With readFirst the credential is
// read before the session is consumed, so the transaction reads before its
// first write (what makes deferred transactions fail with SQLITE_BUSY).
func signIn(ctx context.Context, s store.Store, session string, i int, readFirst bool) error {
	now := time.Now()
	return s.WithTx(ctx, func(tx store.Tx) error {
		var c store.Credential
		var err error
		if readFirst {
			if c, err = tx.GetCredential(ctx, benchCredID(i)); err != nil {
				return err
			}
		}
		if _, err := tx.ConsumeSession(ctx, session, "login", now); err != nil {
			return err
		}
		if !readFirst {
			if c, err = tx.GetCredential(ctx, benchCredID(i)); err != nil {
				return err
			}
		}
		if err := tx.UpdateCredentialUse(ctx, c.ID, c.SignCount, c.SignCount+1, false, now); err != nil {
			return err
		}
		p, err := tx.GetPrincipal(ctx, c.Principal)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "login", Result: "ok",
			Principal: p.Anchor, CredentialID: "x", KVNO: 1 << 16, Remote: "127.0.0.1", Detail: p.Name})
		return err
	})
}

// benchLayouts are the connection layouts compared.
func benchLayouts() []struct {
	name string
	o    options
} {
	split := defaultOptions()
	noStmt := defaultOptions()
	noStmt.noStmtCache = true
	single := defaultOptions()
	single.readConns = 0
	deferred := defaultOptions()
	deferred.writeConns, deferred.txLock = 4, "deferred"
	return []struct {
		name string
		o    options
	}{
		{"split-pool", split},
		{"split-pool-unprepared", noStmt},
		{"single-conn", single},
		{"4-writers-deferred", deferred},
	}
}

// BenchmarkSignInTx measures one sign-in transaction at a time, with 10k
// principals and credentials preloaded (fsync per commit included).
func BenchmarkSignInTx(b *testing.B) {
	template := benchTemplate(b)
	for _, l := range benchLayouts()[:3] {
		b.Run(l.name, func(b *testing.B) {
			s := benchStore(b, template, l.o)
			createSessions(b, s, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := signIn(ctx, s, fmt.Sprint("s", i), (i*7919)%benchPrincipals, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignInMixedParallel runs concurrent clients, each doing one sign-in
// (reading before writing) and four principal look-ups by name (the begin step
// and other readers), and reports failed sign-ins (SQLITE_BUSY in the deferred
// multi-writer layout).
func BenchmarkSignInMixedParallel(b *testing.B) {
	template := benchTemplate(b)
	for _, l := range benchLayouts() {
		b.Run(l.name, func(b *testing.B) {
			s := benchStore(b, template, l.o)
			createSessions(b, s, b.N)
			ctx := context.Background()
			var next, failed atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1) - 1)
					if err := signIn(ctx, s, fmt.Sprint("s", i), (i*7919)%benchPrincipals, true); err != nil {
						failed.Add(1)
					}
					for k := 1; k <= 4; k++ {
						name := fmt.Sprintf("USER%05d", (i*31+k)%benchPrincipals)
						if _, err := s.GetPrincipalByName(ctx, "corp.example.test", name); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
			b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
		})
	}
}

// BenchmarkSignInFinish measures conformance.FinishSignIn one at a time (every commit
// alone) and from concurrent clients (group commit), without and with the
// committer's linger, and reports allocations, process CPU, commits
// (groups) per sign-in, the 99th percentile of a sign-in's latency, the
// WAL's high-water size and the checkpoints run (in the background and on
// the writer).
func BenchmarkSignInFinish(b *testing.B) {
	template := benchTemplate(b)
	for _, linger := range []time.Duration{0, 150 * time.Microsecond} {
		for _, clients := range []int{1, 2, 8} {
			if clients == 1 && linger > 0 {
				continue // no group, no linger
			}
			b.Run(fmt.Sprintf("clients=%d/linger=%s", clients, linger), func(b *testing.B) {
				o := defaultOptions()
				o.linger = linger
				benchFinish(b, benchStore(b, template, o), clients)
			})
		}
	}
}

func benchFinish(b *testing.B, s *Store, clients int) {
	commits := s.commit.commits.Load()
	conformance.BenchSignInFinish(b, s, clients, 0, func(i int) []byte { return benchCredID((i * 7919) % benchPrincipals) })
	b.ReportMetric(float64(s.commit.commits.Load()-commits)/float64(b.N), "commits/op")
	// The WAL file keeps the largest size it reached (up to the 64 MiB
	// journal_size_limit): how far checkpoints let it grow.
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		b.ReportMetric(float64(fi.Size()>>10), "wal-KiB")
	}
	if s.ckpt != nil {
		b.ReportMetric(float64(s.ckpt.runs.Load()), "bg-ckpts")
		b.ReportMetric(float64(s.ckpt.writerRuns.Load()), "writer-ckpts")
	}
}

// BenchmarkColdPrincipalReads is what a sign-in reads when the view does not
// hold its principal (its first sign-in since the directory last changed):
// the principal and its transitive groups (two nested groups), standalone
// reads on the reader pool.
func BenchmarkColdPrincipalReads(b *testing.B) {
	template := benchTemplate(b)
	s := benchStore(b, template, defaultOptions())
	ctx := context.Background()
	const members = 1000
	err := s.WithTx(ctx, func(tx store.Tx) error {
		for _, g := range []store.Group{{Anchor: "g-staff", Name: "Staff", SID: "S-1-5-21-1-2-3-5001", Directory: "default"},
			{Anchor: "g-all", Name: "Everyone here", SID: "S-1-5-21-1-2-3-5002", Directory: "default"}} {
			if _, err := tx.UpsertGroup(ctx, g); err != nil {
				return err
			}
		}
		if err := tx.SetMemberships(ctx, "g-staff", []string{"g-all"}); err != nil {
			return err
		}
		for i := 0; i < members; i++ {
			if err := tx.SetMemberships(ctx, benchAnchor(i), []string{"g-staff"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a := benchAnchor((i * 7919) % members)
		if _, err := s.GetPrincipal(ctx, a); err != nil {
			b.Fatal(err)
		}
		gs, err := s.TransitiveGroups(ctx, a)
		if err != nil || len(gs) != 2 {
			b.Fatalf("groups %v, %v", gs, err)
		}
	}
}
