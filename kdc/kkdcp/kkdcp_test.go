package kkdcp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/internal/kdctest"
)

func req(tag byte) []byte { return Frame([]byte{tag, 0x03, 0x02, 0x01, 0x05}) }

func TestRoundTrip(t *testing.T) {
	in := Message{KerbMessage: req(tagTGSReq), Realm: "SAMDOM.EXAMPLE.TEST", DCLocatorHint: 7, HasHint: true}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.KerbMessage, in.KerbMessage) || out.Realm != in.Realm || out.DCLocatorHint != 7 || !out.HasHint {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestDecodeRefusals(t *testing.T) {
	enc := func(m Message) []byte { b, _ := m.Marshal(); return b }
	good := enc(Message{KerbMessage: req(tagASReq), Realm: "R"})
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, 0, ErrNotDER},
		{"not DER", []byte("GET / HTTP/1.1"), 0, ErrOuterTag},
		{"truncated", good[:len(good)-1], 0, ErrNotDER},
		{"trailing", append(append([]byte{}, good...), 0), 0, ErrNotDER},
		{"wrong outer tag", append([]byte{0x31}, good[1:]...), 0, ErrOuterTag},
		{"over cap", good, len(good) - 1, ErrTooLarge},
		{"AS-REP", enc(Message{KerbMessage: req(tagASRep), Realm: "R"}), 0, ErrMessageType},
		{"KRB-ERROR", enc(Message{KerbMessage: req(tagKRBError), Realm: "R"}), 0, ErrMessageType},
		{"bad framing", enc(Message{KerbMessage: []byte{0, 0, 0, 9, tagASReq}, Realm: "R"}), 0, ErrFraming},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.in, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// fakeKDC answers each framed request with reply, after delay.
func fakeKDC(t *testing.T, reply []byte, delay time.Duration) (string, *atomic.Int32) {
	return kdctest.Serve(t, func([]byte) []byte { time.Sleep(delay); return reply })
}

func TestForward(t *testing.T) {
	rep := Frame([]byte{tagTGSRep, 0x00})
	addr, _ := fakeKDC(t, rep, 0)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	slow, _ := fakeKDC(t, rep, 2*time.Second)
	bad, _ := fakeKDC(t, Frame([]byte{0x30, 0x00}), 0)
	ctx := context.Background()
	m := Message{KerbMessage: req(tagTGSReq), Realm: "r"}

	f := &Forwarder{KDCs: map[string][]string{"R": {deadAddr, addr}}, Timeout: time.Second}
	got, err := f.Forward(ctx, m)
	if err != nil || !bytes.Equal(got, rep) {
		t.Fatalf("forward after a dead KDC: %x %v", got, err)
	}
	if _, err := f.Forward(ctx, Message{KerbMessage: m.KerbMessage, Realm: "OTHER"}); !errors.Is(err, ErrRealm) {
		t.Fatalf("unconfigured realm: %v", err)
	}
	f.KDCs["R"] = []string{deadAddr}
	if _, err := f.Forward(ctx, m); !errors.Is(err, ErrKDCUnreachable) {
		t.Fatalf("DC down: %v", err)
	}
	f.KDCs["R"] = []string{slow}
	start := time.Now()
	if _, err := f.Forward(ctx, m); !errors.Is(err, ErrKDCUnreachable) || time.Since(start) > 1900*time.Millisecond {
		t.Fatalf("slow KDC: %v after %v", err, time.Since(start))
	}
	f.KDCs["R"] = []string{bad}
	if _, err := f.Forward(ctx, m); !errors.Is(err, ErrReply) {
		t.Fatalf("non-Kerberos reply: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Message{KerbMessage: req(tagASReq), Realm: "SAMDOM.EXAMPLE.TEST", HasHint: true}.Marshal()
	f.Add(b)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Decode(in, 1<<16)
		if err != nil {
			return
		}
		if k := m.Kerberos(); k[0] != tagASReq && k[0] != tagTGSReq {
			t.Fatalf("forwarded message type 0x%02x", k[0])
		}
		out, err := m.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("not canonical: %x vs %x (%v)", out, in, err)
		}
	})
}

func TestDecodeReply(t *testing.T) {
	enc := func(m Message) []byte { b, _ := m.Marshal(); return b }
	rep := Frame([]byte{tagTGSRep, 0x03, 0x02, 0x01, 0x05})
	got, err := DecodeReply(enc(Message{KerbMessage: rep}), 0)
	if err != nil || !bytes.Equal(got, rep[4:]) {
		t.Fatalf("TGS-REP: %x %v", got, err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"garbage", []byte("<html>"), ErrNotDER},
		{"request", enc(Message{KerbMessage: req(tagASReq)}), ErrReply},
		{"framing", enc(Message{KerbMessage: []byte{0, 0, 0, 1, tagTGSRep, 0}}), ErrFraming},
	} {
		if _, err := DecodeReply(tc.in, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}
