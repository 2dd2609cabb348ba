package chrometest

import (
	"os/exec"
	"testing"
	"time"
)

// TestLeftoverProcessCheckSeesALiveProcess: the teardown check finds a live
// process whose command line names the directory, and stops finding it once
// it is killed (so the browser tests' check can fail).
func TestLeftoverProcessCheckSeesALiveProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "sleep 30", dir) // dir is $0, in the command line
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if left := WaitNoProcessWith(dir, 300*time.Millisecond); len(left) != 1 {
		t.Fatalf("found %q, want the sh process", left)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if left := WaitNoProcessWith(dir, 5*time.Second); len(left) != 0 {
		t.Fatalf("still found %q after kill", left)
	}
}
