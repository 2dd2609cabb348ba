package samba

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrMalformedProcNet is wrapped by errors from parsing /proc/net tables.
var ErrMalformedProcNet = errors.New("samba: malformed /proc/net table")

// Socket is a bound socket of one of the DC's processes.
type Socket struct {
	Proto string         // "tcp", "udp", "tcp6" or "udp6"
	Addr  netip.AddrPort // local address
	PID   int            // owning process
}

// procNetEntry is one row of /proc/net/{tcp,udp,tcp6,udp6}.
type procNetEntry struct {
	local netip.AddrPort
	state uint8
	inode uint64
}

const tcpListen = 0x0A

// parseProcNet parses a /proc/net/tcp-style table: a header line, then rows
// "sl: local remote st ... uid timeout inode ...". Addresses are hexadecimal
// 32-bit words in host byte order, ports big-endian hexadecimal.
func parseProcNet(data []byte) ([]procNetEntry, error) {
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) == 0 || !bytes.Contains(lines[0], []byte("local_address")) {
		return nil, fmt.Errorf("%w: no header", ErrMalformedProcNet)
	}
	var out []procNetEntry
	for i, line := range lines[1:] {
		e, err := parseProcNetLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrMalformedProcNet, i+2, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseProcNetLine(line string) (procNetEntry, error) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return procNetEntry{}, fmt.Errorf("%d fields", len(f))
	}
	local, err := parseHexAddrPort(f[1])
	if err != nil {
		return procNetEntry{}, err
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return procNetEntry{}, fmt.Errorf("state %q", f[3])
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return procNetEntry{}, fmt.Errorf("inode %q", f[9])
	}
	return procNetEntry{local: local, state: uint8(st), inode: inode}, nil
}

// parseHexAddrPort decodes "0100007F:0058" (IPv4) or a 32-digit IPv6 form.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok || (len(hexAddr) != 8 && len(hexAddr) != 32) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", s)
	}
	// Each 32-bit word was printed as a host-order integer: restore the
	// in-memory (network order) bytes.
	for w := 0; w < len(raw); w += 4 {
		binary.NativeEndian.PutUint32(raw[w:], binary.BigEndian.Uint32(raw[w:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// boundSockets returns the listening TCP and all UDP sockets owned by pids.
func boundSockets(pids []int) ([]Socket, error) {
	owner := socketInodes(pids)
	var out []Socket
	for _, proto := range []string{"tcp", "udp", "tcp6", "udp6"} {
		data, err := os.ReadFile(filepath.Join("/proc/net", proto))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("samba: %w", err)
		}
		rows, err := parseProcNet(data)
		if err != nil {
			return nil, fmt.Errorf("samba: /proc/net/%s: %w", proto, err)
		}
		for _, r := range rows {
			pid, ok := owner[r.inode]
			if !ok || (strings.HasPrefix(proto, "tcp") && r.state != tcpListen) {
				continue
			}
			out = append(out, Socket{Proto: proto, Addr: r.local, PID: pid})
		}
	}
	return out, nil
}

// socketInodes maps the socket inodes open in pids to their process.
func socketInodes(pids []int) map[uint64]int {
	m := make(map[uint64]int)
	for _, pid := range pids {
		fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(fdDir)
		if err != nil {
			continue // the process is gone or not ours to read
		}
		for _, e := range ents {
			link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
			if err != nil {
				continue
			}
			if s, ok := strings.CutPrefix(link, "socket:["); ok {
				if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
					m[n] = pid
				}
			}
		}
	}
	return m
}
