// Package kdctest is a fake KDC on TCP for tests: it reads each framed
// Kerberos request (a 4-byte length, then the message; RFC 4120 §7.2.2) and
// writes back what the test's reply function returns. It also makes the
// ticket a client presents (TGT) and a KDC's refusal of it (Revoked).
package kdctest

import (
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Serve listens on a free 127.0.0.1 port until the test ends, answering each
// request with reply(request) (the bytes written as they are, framing
// included). It returns the address and the number of requests read.
func Serve(t testing.TB, reply func(req []byte) []byte) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go answer(c, reply, &n)
		}
	}()
	return ln.Addr().String(), &n
}

func answer(c net.Conn, reply func([]byte) []byte, n *atomic.Int32) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	req := make([]byte, binary.BigEndian.Uint32(hdr[:])&0x7fffffff)
	if _, err := io.ReadFull(c, req); err != nil {
		return
	}
	n.Add(1)
	_, _ = c.Write(reply(req))
}
