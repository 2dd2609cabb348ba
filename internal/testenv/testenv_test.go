package testenv

import (
	"net"
	"testing"
	"time"
)

func TestClosedPortRefusesAndStaysReserved(t *testing.T) {
	addr := ClosedPort(t)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be listened on while reserved", addr)
	}
}
