package samba

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrMalformedStat is wrapped by errors from parsing /proc/PID/stat.
var ErrMalformedStat = errors.New("samba: malformed /proc stat line")

// procInfo identifies a process: a pid plus its start time, so that a
// recycled pid is never mistaken for one of ours.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot (field 22)
}

// parseStat parses the content of /proc/PID/stat. The command name (field 2)
// is in parentheses and may itself contain spaces and parentheses, so the
// fields after it are found from the last ')'.
func parseStat(data []byte) (procInfo, error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 1 || end < open {
		return procInfo{}, fmt.Errorf("%w: no command name", ErrMalformedStat)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil || pid <= 0 {
		return procInfo{}, fmt.Errorf("%w: pid %q", ErrMalformedStat, data[:open])
	}
	f := strings.Fields(string(data[end+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("%w: %d fields after the command name", ErrMalformedStat, len(f))
	}
	nums := make([]uint64, 3)
	for i, idx := range []int{1, 2, 19} { // ppid, pgrp, starttime
		if nums[i], err = strconv.ParseUint(f[idx], 10, 64); err != nil {
			return procInfo{}, fmt.Errorf("%w: field %d %q", ErrMalformedStat, idx+3, f[idx])
		}
	}
	if nums[0] > 1<<31 || nums[1] > 1<<31 {
		return procInfo{}, fmt.Errorf("%w: pid out of range", ErrMalformedStat)
	}
	return procInfo{pid: pid, ppid: int(nums[0]), pgid: int(nums[1]), state: f[0][0], start: nums[2]}, nil
}

// readProc returns the current state of pid, or false if it does not exist.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	p, err := parseStat(data)
	return p, err == nil
}

// allProcs lists every process visible in /proc.
func allProcs() []procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// treeAndMarked returns root and its descendants, plus every process whose
// environment holds the marker entry (children of samba that were
// re-parented after their parent died still carry it).
func treeAndMarked(root int, marker string, procs []procInfo) []procInfo {
	children := make(map[int][]procInfo)
	byPID := make(map[int]procInfo)
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p)
		byPID[p.pid] = p
	}
	seen := make(map[int]bool)
	var out []procInfo
	var walk func(pid int)
	walk = func(pid int) {
		p, ok := byPID[pid]
		if !ok || seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, p)
		for _, c := range children[pid] {
			walk(c.pid)
		}
	}
	walk(root)
	for _, p := range procs {
		if !seen[p.pid] && hasEnvEntry(p.pid, marker) {
			walk(p.pid)
		}
	}
	return out
}

// hasEnvEntry reports whether /proc/PID/environ contains entry exactly.
func hasEnvEntry(pid int, entry string) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if string(kv) == entry {
			return true
		}
	}
	return false
}

// running reports whether p is still the same live (non-zombie) process.
func running(p procInfo) bool {
	cur, ok := readProc(p.pid)
	return ok && cur.start == p.start && cur.state != 'Z' && cur.state != 'X'
}

// ProcessRunning reports whether a process with this pid exists and is not
// a zombie (an exited child that nobody reaped).
func ProcessRunning(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}

// signalProcs sends sig to the process groups of leaders and to every
// process of procs that is still the same process.
func signalProcs(procs []procInfo, sig syscall.Signal) {
	for _, p := range procs {
		if running(p) {
			_ = syscall.Kill(p.pid, sig)
			if p.pgid == p.pid {
				_ = syscall.Kill(-p.pgid, sig)
			}
		}
	}
}

// waitGone polls until none of procs runs, or the timeout passes; it
// returns the survivors.
func waitGone(procs []procInfo, timeout time.Duration) []procInfo {
	deadline := time.Now().Add(timeout)
	for {
		var alive []procInfo
		for _, p := range procs {
			if running(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}
