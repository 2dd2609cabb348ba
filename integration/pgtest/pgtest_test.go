package pgtest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/internal/testenv"
)

// TestStartContextDurable: StartContext keeps or turns off durability as
// asked.
func TestStartContextDurable(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		testenv.Missing(t, err.Error())
	}
	for _, tc := range []struct {
		durable bool
		want    string
	}{{true, "on on"}, {false, "off off"}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s, err := StartContext(ctx, tc.durable)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var fsync, sc string
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			err = conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &sc)
			conn.Close(ctx)
		}
		if stopErr := s.Stop(); stopErr != nil {
			t.Errorf("stop: %v", stopErr)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := fsync + " " + sc; got != tc.want {
			t.Errorf("durable %v: fsync synchronous_commit = %s, want %s", tc.durable, got, tc.want)
		}
	}
}

// TestStartStop: the server answers on 127.0.0.1 with the password, does not
// run as root, runs with fsync off, and Stop ends its process and removes its
// directory.
func TestStartStop(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var fsync, addr string
	if err := conn.QueryRow(ctx, `SELECT current_setting('fsync'), inet_server_addr()::text`).Scan(&fsync, &addr); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if fsync != "off" || !strings.HasPrefix(addr, "127.0.0.1") {
		t.Fatalf("fsync=%s server address %s, want off and 127.0.0.1", fsync, addr)
	}
	if uid := processUID(t, s.PID()); uid == 0 {
		t.Fatalf("postgres runs as root")
	}

	bad := strings.Replace(s.URL("postgres"), s.password, "wrong", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}

	pid, dir := s.PID(), s.Dir
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("postgres %d still there after Stop (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory %s left after Stop: %v", dir, err)
	}
}

// processUID reads the real UID of a process from /proc.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatal("no Uid line")
	return -1
}
