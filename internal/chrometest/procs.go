package chrometest

import (
	"bytes"
	"os"
	"path/filepath"
	"time"
)

// WaitNoProcessWith waits (bounded by limit) until no live process's command
// line mentions dir (a Chromium --user-data-dir, also in
// chrome_crashpad_handler's --database), and returns the ones still there
// as "PID NAME".
func WaitNoProcessWith(dir string, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		left := processesWith(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func processesWith(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie, already dead
		}
		args := bytes.SplitN(b, []byte{0}, 2)
		left = append(left, e.Name()+" "+filepath.Base(string(args[0])))
	}
	return left
}
