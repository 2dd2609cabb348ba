//go:build unix

package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// crashChildEnv names the database a child process of TestKillKeepsAcknowledgedWrites writes to.
const crashChildEnv = "PASSKDC_STORE_CRASH_CHILD"

// TestKillKeepsAcknowledgedWrites starts a child process that advances a sign
// counter and appends audit records, printing an acknowledgement after each
// committed transaction, kills it with SIGKILL mid-stream and checks that every
// acknowledged write is in the reopened database (which passes integrity_check).
func TestKillKeepsAcknowledgedWrites(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "passkdc.db")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKillKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lastCount uint32
	var auditIDs []int64
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var count uint32
		var id int64
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &count, &id); err != nil {
			continue
		}
		lastCount, auditIDs = count, append(auditIDs, id)
		if len(auditIDs) == 150 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child ended by itself after %d acknowledgements", len(auditIDs))
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	c, err := s.GetCredential(ctx, []byte("cred"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SignCount < lastCount {
		t.Fatalf("sign counter %d after the crash, acknowledged %d", c.SignCount, lastCount)
	}
	recs, err := s.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, r := range recs {
		have[r.ID] = true
	}
	for _, id := range auditIDs {
		if !have[id] {
			t.Fatalf("acknowledged audit record %d lost", id)
		}
	}
	var check string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %q, %v", check, err)
	}
	t.Logf("%d acknowledged transactions before SIGKILL, counter %d (acknowledged %d), %d audit records",
		len(auditIDs), c.SignCount, lastCount, len(recs))
}

// crashChild is the child of TestKillKeepsAcknowledgedWrites: it writes until killed.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := s.UpsertPrincipal(ctx, store.Principal{Anchor: "a1", Name: "alice"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := s.CreateCredential(ctx, store.Credential{ID: []byte("cred"), Principal: "a1"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for count := uint32(0); count < 1<<20; count++ {
		var id int64
		err := s.WithTx(ctx, func(tx store.Tx) error {
			if err := tx.UpdateCredentialUse(ctx, []byte("cred"), count, count+1, false, time.Now()); err != nil {
				return err
			}
			var err error
			id, err = tx.AppendAudit(ctx, store.AuditRecord{Event: "login", Result: "ok", Principal: "a1"})
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// Written straight to the pipe: an acknowledgement the parent reads
		// was made after the commit returned.
		fmt.Fprintf(os.Stdout, "ack %d %d\n", count+1, id)
	}
	os.Exit(0)
}
