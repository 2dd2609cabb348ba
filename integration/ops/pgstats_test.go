package ops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/integration/slapd"
)

// TestFirstSyncLeavesPostgresStatistics: the first `passkdc sync` of a
// directory of 150 users into a new PostgreSQL database leaves the
// directory tables with planner statistics at once (not a minute later,
// when autovacuum gets to them), so the sign-in's group read walks
// memberships by its index from the first sign-in on.
func TestFirstSyncLeavesPostgresStatistics(t *testing.T) {
	passkdc := buildPasskdc(t)
	dir := slapd.Start(t, slapd.Options{})
	var members []string
	for i := range 150 {
		dn, err := dir.AddUser(slapd.User{UID: fmt.Sprintf("user%03d", i), SambaSID: fmt.Sprintf("S-1-5-21-1-2-3-%d", 2000+i)})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, dn)
	}
	if _, err := dir.AddGroup("staff", members...); err != nil {
		t.Fatal(err)
	}
	db := pgtest.Start(t)
	url := db.NewSchema(t)
	tmp := t.TempDir()
	pw := filepath.Join(tmp, "bind.pw")
	if err := os.WriteFile(pw, []byte(dir.RootPW), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(tmp, "passkdc.yaml")
	body := fmt.Sprintf("realm: EXAMPLE.TEST\nstore: %s\nldap:\n  url: %s\n  start_tls: false\n  flavour: rfc2307\n  bind_dn: %s\n  bind_password_file: %s\n  base_dn: %s\n",
		strconv.Quote(url), dir.URL, dir.RootDN, pw, dir.Suffix)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(passkdc, "sync", "--config", cfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "150 added") {
		t.Fatalf("passkdc sync: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var analyzed int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND last_analyze IS NOT NULL
			AND relname IN ('principals', 'directory_groups', 'memberships')`).Scan(&analyzed)
		if err != nil {
			t.Fatal(err)
		}
		if analyzed == 3 || time.Now().After(deadline) {
			break
		}
	}
	if analyzed != 3 {
		t.Fatalf("after the first sync %d of the 3 directory tables have statistics (ANALYZE), want all 3", analyzed)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM memberships`).Scan(&rows); err != nil || rows < 150 {
		t.Fatalf("%d memberships stored (%v), want the 150 users' staff membership", rows, err)
	}
}
