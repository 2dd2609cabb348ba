package crash

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/keytabs"
)

// TestSIGTERMDrainsTheRequestInFlight: a request whose body is still arriving
// when SIGTERM comes is answered normally; new connections are refused; the
// process then exits 0.
func TestSIGTERMDrainsTheRequestInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the passkdc binary")
	}
	b := newBed(t)
	p := b.start()
	host := strings.TrimPrefix(b.url, "http://localhost:")
	conn, err := net.Dial("tcp", "127.0.0.1:"+host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"binding_key":"` + enc(append([]byte{9}, make([]byte, 31)...)) + `"}`
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/login/begin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:half])
	time.Sleep(200 * time.Millisecond)
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+host, time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted after SIGTERM")
	}
	if _, err := conn.Write([]byte(body[half:])); err != nil {
		t.Fatalf("the request in flight was cut: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request in flight answered %d", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("passkdc exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		_ = p.Process.Kill()
		t.Fatal("passkdc did not exit after SIGTERM")
	}
}

// TestSIGHUPReloadsARotatedKeytab: after the keytab gains version 2 and the
// process gets SIGHUP, sign-ins get tickets under the new key, without a restart.
func TestSIGHUPReloadsARotatedKeytab(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the passkdc binary")
	}
	b := newBed(t)
	p := b.start()
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	ctx := context.Background()
	c, err := client.New(b.url, "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := softkey.Open(filepath.Join(b.dir, "hup.passkey"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, tapCode(0, 0), "", key); err != nil {
		t.Fatal(err)
	}
	kvno := func() int {
		si, err := c.Login(ctx, "", key)
		if err != nil {
			t.Fatal(err)
		}
		var tkt messages.Ticket
		if err := tkt.Unmarshal(si.Cred.Tickets[0]); err != nil {
			t.Fatal(err)
		}
		return tkt.EncPart.KVNO
	}
	v1, v2 := int(int32(keytabs.EncodeKVNO(40000, 1))), int(int32(keytabs.EncodeKVNO(40000, 2)))
	if got := kvno(); got != v1 {
		t.Fatalf("kvno %d before rotation, want %d", got, v1)
	}
	writeKeytabVersions(t, filepath.Join(b.dir, "krbtgt.keytab"), 2)
	if err := p.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got := kvno(); got != v2; got = kvno() {
		if time.Now().After(deadline) {
			t.Fatalf("kvno still %d 5 s after SIGHUP, want %d", got, v2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.ProcessState != nil {
		t.Fatal("passkdc exited on SIGHUP")
	}
}

// writeKeytabVersions writes versions 1..latest of krbtgt_40000 (version 1 is
// the key writeKeytab wrote).
func writeKeytabVersions(t *testing.T, path string, latest int) {
	t.Helper()
	kp := keytabs.NewPrincipal(realm, "krbtgt_40000")
	kt := &keytabs.Keytab{}
	for v := 1; v <= latest; v++ {
		pw := "rodc"
		if v > 1 {
			pw = fmt.Sprintf("rodc-v%d", v)
		}
		key, err := keytabs.StringToKey(18, pw, keytabs.ADUserSalt(realm, "krbtgt_40000"))
		if err != nil {
			t.Fatal(err)
		}
		kt.Entries = append(kt.Entries, keytabs.Entry{Principal: kp, KVNO: keytabs.EncodeKVNO(40000, uint16(v)), Key: key})
	}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}
