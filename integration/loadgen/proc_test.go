package loadgen

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    statTimes
		wantErr bool
	}{
		{"plain", "1234 (krb5kdc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 500 1000 100", statTimes{ppid: 1, utime: 250, stime: 75}, false},
		{"name with spaces and parens", "99 (a) b (c)) R 7 99 99 0 -1 0 0 0 0 0 3 4 0 0", statTimes{ppid: 7, utime: 3, stime: 4}, false},
		{"truncated", "1234 (krb5kdc) S 1 1234", statTimes{}, true},
		{"no name", "1234 krb5kdc S 1 1234 1234 0 -1 0 0 0 0 0 1 1", statTimes{}, true},
		{"bad utime", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 x 1", statTimes{}, true},
		{"negative stime", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 1 -1", statTimes{}, true},
		{"empty", "", statTimes{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedProc) {
					t.Fatalf("err = %v, want ErrMalformedProc", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		err  error
	}{
		{"normal", "Name:\tkrb5kdc\nVmPeak:\t  10 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n", 5120 * 1024, nil},
		{"kernel thread", "Name:\tkthreadd\nState:\tS\n", 0, ErrNoRSS},
		{"garbled unit", "VmHWM:\t12 MB\n", 0, ErrMalformedProc},
		{"garbled number", "VmHWM:\tx kB\n", 0, ErrMalformedProc},
		{"negative", "VmHWM:\t-1 kB\n", 0, ErrMalformedProc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmHWM([]byte(tc.in))
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || got != tc.want {
				t.Fatalf("got %d, %v; want %d, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseAuxv(t *testing.T) {
	aux := func(pairs ...uint64) []byte {
		b := make([]byte, 0, 8*len(pairs))
		for _, p := range pairs {
			b = binary.NativeEndian.AppendUint64(b, p)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want uint64
	}{
		{"present", aux(6, 4096, atClkTck, 250, 0, 0), 250},
		{"absent", aux(6, 4096, 0, 0), defaultClockTicks},
		{"after terminator", aux(0, 0, atClkTck, 250), defaultClockTicks},
		{"zero value", aux(atClkTck, 0), defaultClockTicks},
		{"truncated", aux(atClkTck, 250)[:12], defaultClockTicks},
		{"empty", nil, defaultClockTicks},
	}
	for _, tc := range tests {
		if got := parseAuxvClockTicks(tc.in); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	if hz := clockTicks(); hz != 100 {
		t.Logf("USER_HZ on this machine is %d", hz)
	}
}

// TestProcCPUOfBusyChild runs a shell whose subshell spins (about 0.2 s of
// CPU, without forking) and then sleeps, and checks that TreeCPU of the outer
// shell sees the subshell's time while ProcCPU of the outer shell does not.
func TestProcCPUOfBusyChild(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", `(i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done; sleep 60) & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	// The machine may be busy: wait (bounded) until the spin shows up.
	var tree time.Duration
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if tree, err = TreeCPU(pid); err != nil {
			t.Fatal(err)
		}
		if tree >= 100*time.Millisecond {
			break
		}
	}
	own, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	kids, err := Descendants(pid)
	if err != nil || len(kids) == 0 {
		t.Fatalf("descendants = %v, %v; want the subshell", kids, err)
	}
	if tree < own+100*time.Millisecond {
		t.Errorf("tree CPU %v, own %v: the busy subshell's time is missing", tree, own)
	}
	rss, err := PeakRSS(pid)
	if err != nil || rss < 64*1024 || rss > 1<<30 {
		t.Errorf("peak RSS = %d, %v", rss, err)
	}
}

func TestProcOfMissingProcess(t *testing.T) {
	if _, err := ProcCPU(-1); err == nil {
		t.Error("ProcCPU(-1) succeeded")
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Error("PeakRSS(-1) succeeded")
	}
	if _, err := TreeCPU(-1); err == nil {
		t.Error("TreeCPU(-1) succeeded")
	}
	self, err := ProcCPU(os.Getpid())
	if err != nil || self < 0 {
		t.Errorf("ProcCPU(self) = %v, %v", self, err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (krb5kdc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 500 1000 100"))
	f.Add([]byte("99 (a) b (c)) R 7 99 99 0 -1 0 0 0 0 0 3 4 0 0"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStat(data)
		if err == nil && st.ppid < 0 && st.ppid < -1<<31 {
			t.Fatalf("ppid out of range: %d", st.ppid)
		}
		_ = ticksToDuration(st.utime+st.stime, defaultClockTicks)
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tkrb5kdc\nVmHWM:\t    5120 kB\n"))
	f.Add([]byte("VmHWM:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseVmHWM(data)
		if err == nil && n < 0 {
			t.Fatalf("negative RSS %d", n)
		}
		_ = parseAuxvClockTicks(data)
	})
}
