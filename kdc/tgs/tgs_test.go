package tgs

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/internal/kdctest"
)

// fakeKDC answers every framed request on loopback with reply(request).
func fakeKDC(t *testing.T, reply func([]byte) []byte) string {
	addr, _ := kdctest.Serve(t, reply)
	return addr
}

func frame(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func testRequest(t *testing.T, kdcs ...string) Request {
	t.Helper()
	tkt, key, cname, sname, _ := kdctest.TGT(t)
	return Request{Client: cname, Realm: kdctest.Realm, TGT: tkt, SessionKey: key, Service: sname, KDCs: kdcs}
}

func TestKRBErrorBecomesKDCError(t *testing.T) {
	addr := fakeKDC(t, func(req []byte) []byte {
		var r messages.TGSReq
		if err := r.Unmarshal(req); err != nil {
			t.Errorf("fake KDC got a malformed TGS-REQ: %v", err)
		}
		e := messages.NewKRBError(r.ReqBody.SName, r.ReqBody.Realm, errorcode.KDC_ERR_TGT_REVOKED, "revoked")
		b, _ := e.Marshal()
		return frame(b)
	})
	_, err := Exchange(context.Background(), testRequest(t, addr))
	var kerr *KDCError
	if !errors.As(err, &kerr) || kerr.Code != errorcode.KDC_ERR_TGT_REVOKED {
		t.Fatalf("err = %v, want KDC_ERR_TGT_REVOKED", err)
	}
}

func TestGarbageAndSilenceAreErrors(t *testing.T) {
	cases := map[string]func([]byte) []byte{
		"garbage":      func([]byte) []byte { return frame([]byte{0x30, 0x03, 0x02, 0x01}) },
		"zero length":  func([]byte) []byte { return frame(nil) },
		"huge length":  func([]byte) []byte { return binary.BigEndian.AppendUint32(nil, 1<<30) },
		"short answer": func([]byte) []byte { return []byte{0, 0} },
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Exchange(context.Background(), testRequest(t, fakeKDC(t, reply))); err == nil {
				t.Fatal("bad KDC reply accepted")
			}
		})
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if _, err := Exchange(context.Background(), testRequest(t, dead)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dead KDC: %v", err)
	}
	if _, err := Exchange(context.Background(), testRequest(t)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("no KDC: %v", err)
	}
}

func TestKDCsFromConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "krb5.conf")
	conf := "[libdefaults]\n default_realm = EXAMPLE.TEST\n dns_lookup_kdc = false\n[realms]\n EXAMPLE.TEST = {\n  kdc = 127.0.0.1\n  kdc = 127.0.0.2:1088\n }\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	kdcs, err := KDCsFromConfig(p, "EXAMPLE.TEST")
	if err != nil {
		t.Fatal(err)
	}
	if len(kdcs) != 2 || kdcs[0] != "127.0.0.1:88" || kdcs[1] != "127.0.0.2:1088" {
		t.Fatalf("kdcs = %v", kdcs)
	}
}

// TCP tells a KDC it could not connect to (ErrConnect) from one that
// connected and then failed.
func TestTCPConnectErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	hangUp := fakeKDC(t, func([]byte) []byte { return nil })
	for _, tc := range []struct {
		addr        string
		wantConnect bool
	}{{dead, true}, {hangUp, false}} {
		_, err := TCP(tc.addr, time.Second)(context.Background(), []byte{0x6c, 0})
		if err == nil || errors.Is(err, ErrConnect) != tc.wantConnect {
			t.Errorf("%s: %v, want ErrConnect %v", tc.addr, err, tc.wantConnect)
		}
	}
}
