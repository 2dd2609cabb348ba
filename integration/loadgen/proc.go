package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the /proc readers.
var (
	// ErrMalformedProc is wrapped by errors from parsing a /proc file.
	ErrMalformedProc = errors.New("loadgen: malformed /proc data")
	// ErrNoRSS means the process has no memory statistics (a kernel thread or a zombie).
	ErrNoRSS = errors.New("loadgen: no VmHWM in /proc status")
)

// defaultClockTicks is USER_HZ on every Linux architecture Go supports; it is
// used when the auxiliary vector does not say.
const defaultClockTicks = 100

// atClkTck is the auxiliary vector entry holding USER_HZ (AT_CLKTCK).
const atClkTck = 17

// statTimes is what ProcCPU needs from /proc/PID/stat.
type statTimes struct {
	ppid         int
	utime, stime uint64 // clock ticks
}

// parseStat parses the content of /proc/PID/stat. The command name (field 2)
// is in parentheses and may itself contain spaces and parentheses, so the
// later fields are counted from the last ')'.
func parseStat(data []byte) (statTimes, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || bytes.IndexByte(data, '(') < 0 {
		return statTimes{}, fmt.Errorf("%w: stat has no command name", ErrMalformedProc)
	}
	f := strings.Fields(string(data[end+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[11] and f[12] fields 14 and 15.
	if len(f) < 13 {
		return statTimes{}, fmt.Errorf("%w: stat has %d fields after the command name", ErrMalformedProc, len(f))
	}
	ppid, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return statTimes{}, fmt.Errorf("%w: ppid %q", ErrMalformedProc, f[1])
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	if err1 != nil || err2 != nil {
		return statTimes{}, fmt.Errorf("%w: utime %q stime %q", ErrMalformedProc, f[11], f[12])
	}
	return statTimes{ppid: int(ppid), utime: ut, stime: st}, nil
}

// parseAuxvClockTicks returns AT_CLKTCK from the content of /proc/self/auxv
// (pairs of native-endian 64-bit words), or defaultClockTicks.
func parseAuxvClockTicks(data []byte) uint64 {
	for i := 0; i+16 <= len(data); i += 16 {
		key := binary.NativeEndian.Uint64(data[i:])
		val := binary.NativeEndian.Uint64(data[i+8:])
		if key == 0 {
			break
		}
		if key == atClkTck && val > 0 && val <= 1_000_000 {
			return val
		}
	}
	return defaultClockTicks
}

// clockTicks returns USER_HZ, the unit of the times in /proc/PID/stat.
func clockTicks() uint64 {
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTicks
	}
	return parseAuxvClockTicks(data)
}

func ticksToDuration(ticks, hz uint64) time.Duration {
	sec := ticks / hz
	rem := ticks % hz
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(hz)
}

func readStat(pid int) (statTimes, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return statTimes{}, fmt.Errorf("loadgen: read stat of pid %d: %w", pid, err)
	}
	st, err := parseStat(data)
	if err != nil {
		return statTimes{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// ProcCPU returns the CPU time (user + system, all threads) a running process
// has used so far, from utime and stime in /proc/PID/stat. Its resolution is
// one clock tick (10 ms on Linux), so measure intervals of seconds. Time of
// children is not included: see TreeCPU.
func ProcCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return ticksToDuration(st.utime+st.stime, clockTicks()), nil
}

// Descendants returns the pids of the live children of pid, their children,
// and so on (not pid itself), found through the parent pids in /proc.
func Descendants(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("loadgen: list /proc: %w", err)
	}
	children := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < len(ents) {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out, nil
}

// TreeCPU returns the CPU time used so far by pid and its live descendants
// (for example krb5kdc and its -w worker processes). A descendant that exits
// between listing and reading is skipped.
func TreeCPU(pid int) (time.Duration, error) {
	total, err := ProcCPU(pid)
	if err != nil {
		return 0, err
	}
	kids, err := Descendants(pid)
	if err != nil {
		return 0, err
	}
	for _, k := range kids {
		if d, err := ProcCPU(k); err == nil {
			total += d
		}
	}
	return total, nil
}

// parseVmHWM returns VmHWM in bytes from the content of /proc/PID/status.
func parseVmHWM(data []byte) (int64, error) {
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: VmHWM line %q", ErrMalformedProc, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<53 {
			return 0, fmt.Errorf("%w: VmHWM value %q", ErrMalformedProc, f[0])
		}
		return kb * 1024, nil
	}
	return 0, ErrNoRSS
}

// PeakRSS returns the peak resident set size of a running process in bytes
// (VmHWM in /proc/PID/status).
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("loadgen: read status of pid %d: %w", pid, err)
	}
	n, err := parseVmHWM(data)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return n, nil
}
