package samba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrAddressBusy is wrapped by the error returned when the DC's address is
// locked by another harness or one of its ports is already taken.
var ErrAddressBusy = errors.New("samba: address in use")

// dcPorts are the TCP ports a DC listens on; Start checks they are free.
func dcPorts() []int { return []int{88, 135, 139, 389, 445, 464, 636, 3268, 3269} }

// ensureLoopbackAddr adds ip/32 to the lo interface unless an interface
// already carries exactly that address.
func ensureLoopbackAddr(ctx context.Context, ip netip.Addr) error {
	has, err := interfaceHasAddr(ip)
	if err != nil || has {
		return err
	}
	ipTool, err := toolPath("ip")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, ipTool, "addr", "add", ip.String()+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		return fmt.Errorf("samba: ip addr add %s/32 dev lo: %w: %s", ip, err, out)
	}
	return nil
}

func interfaceHasAddr(ip netip.Addr) (bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, fmt.Errorf("samba: list interface addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if got, ok := netip.AddrFromSlice(n.IP); ok && got.Unmap() == ip {
				return true, nil
			}
		}
	}
	return false, nil
}

// lockAddr takes an exclusive flock on a per-address file in the temporary
// directory, waiting (bounded by ctx) while another harness holds it. The
// kernel drops the lock when the returned file is closed or the process dies.
func lockAddr(ctx context.Context, ip netip.Addr) (*os.File, error) {
	path := filepath.Join(os.TempDir(), "passkdc-samba-"+ip.String()+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("samba: open address lock: %w", err)
	}
	if err := flockWait(ctx, f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another DC harness: %w", ErrAddressBusy, ip, err)
	}
	return f, nil
}

// flockWait polls a non-blocking flock until it succeeds or ctx ends.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkPortsFree fails when a DC port on ip (or the wildcard address) is
// already bound, which would make samba fail later with a less clear error.
func checkPortsFree(ip netip.Addr) error {
	for _, p := range dcPorts() {
		l, err := net.Listen("tcp4", netip.AddrPortFrom(ip, uint16(p)).String())
		if err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrAddressBusy, ip, p, err)
		}
		l.Close()
	}
	return nil
}
