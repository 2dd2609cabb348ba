package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/store"
)

// smallCheckpoints checkpoints every 20 WAL pages, so that a test's few
// hundred writes go through many checkpoints (and the WAL limit, 80 frames).
func smallCheckpoints() options {
	o := defaultOptions()
	o.checkpointPages = 20
	return o
}

// appendAudits writes n audit records, one transaction each.
func appendAudits(ctx context.Context, s *Store, n int) error {
	for i := range n {
		if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Event: "login", Result: "ok",
			Principal: fmt.Sprint("p", i), Detail: string(make([]byte, 300))}); err != nil {
			return err
		}
	}
	return nil
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWriterDoesNotCheckpoint: the writer's commits leave checkpoints to
// the background checkpointer (wal_autocheckpoint 0), unless it is off.
func TestWriterDoesNotCheckpoint(t *testing.T) {
	noBg := defaultOptions()
	noBg.checkpointPages = 0
	for _, tc := range []struct {
		name string
		o    options
		want int
	}{
		{"background", defaultOptions(), 0},
		{"automatic", noBg, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, tc.o)
			var got int
			if err := s.wdb.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("writer's wal_autocheckpoint = %d, want %d", got, tc.want)
			}
			if (s.ckpt != nil) != (tc.want == 0) {
				t.Fatalf("background checkpointer running: %v", s.ckpt != nil)
			}
		})
	}
}

// TestBackgroundCheckpointBoundsWAL: under a stream of writes the
// checkpoints copy the pages into the database file and the WAL stays
// small (without checkpoints, 600 writes make a WAL of several MiB).
func TestBackgroundCheckpointBoundsWAL(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, smallCheckpoints())
	db0 := fileSize(t, s.path)
	if err := appendAudits(ctx, s, 600); err != nil {
		t.Fatal(err)
	}
	if s.ckpt.runs.Load() == 0 {
		t.Fatal("no background checkpoint ran")
	}
	if got := fileSize(t, s.path); got <= db0 {
		t.Fatalf("database file %d bytes, was %d: no page was checkpointed", got, db0)
	}
	if got, limit := fileSize(t, s.path+"-wal"), int64(1<<20); got > limit {
		t.Fatalf("WAL %d bytes, want at most %d", got, limit)
	}
}

// TestCloseLeavesCheckpointedDatabase: after Close the WAL is gone, and the
// database file alone holds every write.
func TestCloseLeavesCheckpointedDatabase(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	s, err := open(ctx, path, smallCheckpoints())
	if err != nil {
		t.Fatal(err)
	}
	if err := appendAudits(ctx, s, 50); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fileSize(t, path+"-wal"); n != 0 {
		t.Fatalf("WAL of %d bytes left after Close", n)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.ListAudit(ctx, 0, 100)
	if err != nil || len(recs) != 50 {
		t.Fatalf("after reopen: %d audit records (%v), want 50", len(recs), err)
	}
}

// TestTwoStoresCheckpointOneFile: two Stores (two processes) on one file
// write concurrently, each with its own checkpointer; every write is kept
// and the database passes integrity_check.
func TestTwoStoresCheckpointOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	var stores [2]*Store
	for i := range stores {
		s, err := open(ctx, path, smallCheckpoints())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = appendAudits(ctx, s, n) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	var count int
	var check string
	db := stores[0].rdb
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM audit").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil {
		t.Fatal(err)
	}
	if count != 2*n || check != "ok" {
		t.Fatalf("%d audit records, integrity %q; want %d, ok", count, check, 2*n)
	}
	if stores[0].ckpt.runs.Load()+stores[1].ckpt.runs.Load() == 0 {
		t.Fatal("no background checkpoint ran")
	}
}

// A background checkpoint that fails is logged once, on the logger given to
// Open (WithLog), with the database's path; its recovery is logged once too.
func TestCheckpointFailureIsLoggedOnTheStoresLogger(t *testing.T) {
	ctx := context.Background()
	log, hook := logtest.NewNullLogger()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	s, err := Open(ctx, path, WithLog(log))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ckpt == nil {
		t.Fatal("no background checkpointer")
	}
	if err := s.ckpt.db.Close(); err != nil { // its connection gone: every checkpoint fails
		t.Fatal(err)
	}
	for range 2 {
		s.ckpt.report(s.ckpt.checkpoint(ctx))
	}
	s.ckpt.report(nil)
	entries := hook.AllEntries()
	if len(entries) != 2 {
		t.Fatalf("logged %d lines, want one failure and one recovery: %v", len(entries), entries)
	}
	fail, back := entries[0], entries[1]
	if fail.Level != logrus.WarnLevel || fail.Data["path"] != s.Path() || fail.Data[logrus.ErrorKey] == nil {
		t.Errorf("failure line: %v %v %q", fail.Level, fail.Data, fail.Message)
	}
	if back.Level != logrus.InfoLevel || back.Data["path"] != s.Path() {
		t.Errorf("recovery line: %v %v %q", back.Level, back.Data, back.Message)
	}
}
