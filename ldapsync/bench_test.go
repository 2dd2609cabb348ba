package ldapsync

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/slapd"
	"github.com/passkdc/passkdc/internal/testenv"
)

// BenchmarkFullSync100k loads 100,000 users and 1,000 groups into slapd with
// slapadd, then measures (run it once: -bench FullSync100k -benchtime 1x):
//   - full_s: a full sync into an empty SQLite store; refull_s: a second full
//     pass over the populated store;
//   - dump_s: ldapsearch -E pr=1000/noprompt of the same entries and
//     attributes, and ratio = full_s / dump_s;
//   - incr100_s: an incremental sync after 100 users changed;
//   - read_heap_MB / apply_heap_MB: the peak Go heap sampled while the full
//     passes read the directory / wrote the store; rss_MB: peak RSS of the
//     test process (getrusage).
//
// Sub-benchmarks cover both membership sources.
// PASSKDC_BENCH_USERS overrides the number of users (for quick profiles).
func BenchmarkFullSync100k(b *testing.B) {
	users, groups := 100000, 1000
	if n, err := strconv.Atoi(os.Getenv("PASSKDC_BENCH_USERS")); err == nil && n >= 100 {
		users = n
	}
	srv := slapd.Start(b, slapd.Options{})
	ldapsearch := testenv.RequireTool(b, "ldapsearch")
	ctx := context.Background()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(srv.WriteBulkLDIF(pw, users, groups)) }()
	t0 := time.Now()
	if err := srv.BulkLoad(ctx, pr); err != nil {
		b.Fatal(err)
	}
	b.Logf("slapadd of %d users and %d groups: %s", users, groups, time.Since(t0).Round(time.Millisecond))
	for _, membership := range []string{MembershipMember, MembershipMemberOf} {
		b.Run(membership, func(b *testing.B) {
			for range b.N {
				benchOnce(b, srv, ldapsearch, membership, users)
			}
		})
	}
}

func benchOnce(b *testing.B, srv *slapd.Server, ldapsearch, membership string, users int) {
	st := openSQLite(b)
	s, err := benchConfig(b, srv, membership).syncer(st, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	s.o.SpillDir = b.TempDir()
	hs := startHeapSampler()
	prog := SyncOptions{Progress: func(p Progress) { hs.setPhase(p.Phase) }}
	full := timed(b, func() Summary { return mustSync(b, s, prog) })
	hs.setPhase("")
	prog.Full = true
	refull := timed(b, func() Summary { return mustSync(b, s, prog) })
	hs.setPhase("")
	for i := 0; i < 100; i++ {
		dn := srv.UserDN(fmt.Sprintf("user%06d", i*(users/100)))
		if err := srv.Replace(dn, "displayName", fmt.Sprintf("Changed %d %d", i, time.Now().UnixNano())); err != nil {
			b.Fatal(err)
		}
	}
	var incSum Summary
	incr := timed(b, func() Summary { incSum = mustSync(b, s, SyncOptions{}); return incSum })
	readHeap, applyHeap := hs.stop()
	if incSum.Mode != "incremental" || incSum.Changed != 100 {
		b.Errorf("incremental after 100 changes: %+v", incSum)
	}
	dump := timeDump(b, srv, ldapsearch, s.o.Flavour)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(full.Seconds(), "full_s")
	b.ReportMetric(refull.Seconds(), "refull_s")
	b.ReportMetric(dump.Seconds(), "dump_s")
	b.ReportMetric(full.Seconds()/dump.Seconds(), "ratio")
	b.ReportMetric(incr.Seconds(), "incr100_s")
	b.ReportMetric(float64(readHeap)/(1<<20), "read_heap_MB")
	b.ReportMetric(float64(applyHeap)/(1<<20), "apply_heap_MB")
	b.ReportMetric(float64(ru.Maxrss)/1024, "rss_MB")
}

func benchConfig(b *testing.B, srv *slapd.Server, membership string) *testSource {
	pw := b.TempDir() + "/bind.pw"
	if err := os.WriteFile(pw, []byte(srv.RootPW), 0o600); err != nil {
		b.Fatal(err)
	}
	fl, err := NewFlavour("rfc2307", FlavourOptions{Realm: "EXAMPLE.TEST", Membership: membership})
	if err != nil {
		b.Fatal(err)
	}
	return &testSource{
		LDAP: LDAPConfig{URL: srv.URL, AllowInsecure: true, BindDN: srv.RootDN, BindPasswordFile: pw},
		Opts: Options{UserBaseDN: srv.Suffix, Flavour: fl, PageSize: 1000},
	}
}

func mustSync(b *testing.B, s *Syncer, o SyncOptions) Summary {
	sum, err := s.Sync(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s", sum)
	return sum
}

func timed(_ *testing.B, fn func() Summary) time.Duration {
	t0 := time.Now()
	fn()
	return time.Since(t0)
}

// timeDump runs ldapsearch with paging over the same users and groups and
// attributes the syncer reads, discarding the output.
func timeDump(b *testing.B, srv *slapd.Server, ldapsearch string, f Flavour) time.Duration {
	t0 := time.Now()
	for _, q := range []struct {
		filter string
		attrs  []string
	}{{f.GroupFilter(), f.GroupAttributes()}, {f.UserFilter(), f.UserAttributes()}} {
		args := append([]string{"-x", "-LLL", "-H", srv.URL, "-D", srv.RootDN, "-w", srv.RootPW,
			"-b", srv.Suffix, "-E", "pr=1000/noprompt", q.filter}, q.attrs...)
		cmd := exec.Command(ldapsearch, args...)
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = devnull, &stderr
		err = cmd.Run()
		devnull.Close()
		if err != nil {
			b.Fatalf("ldapsearch: %v %s", err, stderr.String())
		}
	}
	return time.Since(t0)
}

// heapSampler samples HeapInuse every 50 ms and keeps the peak of the read
// phases and of the apply phase apart.
type heapSampler struct {
	mu          sync.Mutex
	phase       string
	read, apply uint64
	stopc, done chan struct{}
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			h.mu.Lock()
			switch h.phase {
			case "apply":
				h.apply = max(h.apply, ms.HeapInuse)
			case "":
			default:
				h.read = max(h.read, ms.HeapInuse)
			}
			h.mu.Unlock()
			select {
			case <-h.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) setPhase(p string) {
	h.mu.Lock()
	h.phase = p
	h.mu.Unlock()
}

// stop ends sampling and returns the peaks (read phases, apply phase).
func (h *heapSampler) stop() (read, apply uint64) {
	close(h.stopc)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.read, h.apply
}
