package mitkdc

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// testPrincipal has a fixed key so that tests need no string2key.
func testPrincipal(name string, keyByte byte) Principal {
	return Principal{
		Name:  types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name),
		Realm: "BENCH.TEST",
		Key:   types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{keyByte}, 32)},
	}
}

// fakeASRep builds the AS-REP a KDC would send to req, with its enc-part
// encrypted under key and the given nonce.
func fakeASRep(t testing.TB, req messages.ASReq, key types.EncryptionKey, nonce int) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	part := messages.EncKDCRepPart{
		Key:      types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)},
		LastReqs: []messages.LastReq{{LRType: 0, LRValue: now}},
		Nonce:    nonce,
		Flags:    asn1.BitString{Bytes: []byte{0, 0, 0, 0}, BitLength: 32},
		AuthTime: now,
		EndTime:  now.Add(10 * time.Hour),
		SRealm:   req.ReqBody.Realm,
		SName:    req.ReqBody.SName,
	}
	plain, err := part.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := crypto.GetEncryptedData(plain, key, keyusage.AS_REP_ENCPART, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep := messages.ASRep{KDCRepFields: messages.KDCRepFields{
		PVNO: 5, MsgType: msgtype.KRB_AS_REP, CRealm: req.ReqBody.Realm, CName: req.ReqBody.CName,
		Ticket: messages.Ticket{TktVNO: 5, Realm: req.ReqBody.Realm, SName: req.ReqBody.SName,
			EncPart: types.EncryptedData{EType: 18, KVNO: 1, Cipher: []byte("opaque ticket")}},
		EncPart: enc,
	}}
	b, err := rep.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fakeKRBError(t testing.TB, code int32) []byte {
	t.Helper()
	ke := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/BENCH.TEST"), "BENCH.TEST", code, "test")
	b, err := ke.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildASReq(t *testing.T) {
	c, err := NewClient("127.0.0.1:9", TCP)
	if err != nil {
		t.Fatal(err)
	}
	p := testPrincipal("user1", 1)
	req, raw, err := c.BuildASReq(p)
	if err != nil {
		t.Fatal(err)
	}
	var back messages.ASReq
	if err := back.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if len(back.PAData) != 1 || back.PAData[0].PADataType != 2 {
		t.Fatalf("padata %+v, want one PA-ENC-TIMESTAMP", back.PAData)
	}
	if len(back.ReqBody.EType) != 1 || back.ReqBody.EType[0] != 18 || len(back.ReqBody.Addresses) != 0 {
		t.Errorf("etypes %v addresses %v", back.ReqBody.EType, back.ReqBody.Addresses)
	}
	if back.ReqBody.SName.PrincipalNameString() != "krbtgt/BENCH.TEST" || back.ReqBody.Nonce != req.ReqBody.Nonce {
		t.Errorf("sname %v nonce %d", back.ReqBody.SName, back.ReqBody.Nonce)
	}
	// The timestamp must decrypt under the user's key with key usage 1 and be current.
	var ed types.EncryptedData
	if err := ed.Unmarshal(back.PAData[0].PADataValue); err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(ed, p.Key, keyusage.AS_REQ_PA_ENC_TIMESTAMP)
	if err != nil {
		t.Fatal(err)
	}
	var ts types.PAEncTSEnc
	if _, err := asn1.Unmarshal(plain, &ts); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(ts.PATimestamp); d < -time.Second || d > time.Minute {
		t.Errorf("timestamp %v not current", ts.PATimestamp)
	}
	if _, err := crypto.DecryptEncPart(ed, testPrincipal("user1", 2).Key, keyusage.AS_REQ_PA_ENC_TIMESTAMP); err == nil {
		t.Error("timestamp decrypts under another key")
	}
}

func TestVerifyReply(t *testing.T) {
	c, err := NewClient("127.0.0.1:9", TCP)
	if err != nil {
		t.Fatal(err)
	}
	p := testPrincipal("user1", 1)
	req, _, err := c.BuildASReq(p)
	if err != nil {
		t.Fatal(err)
	}
	other := testPrincipal("user2", 1)
	otherReq, _, err := c.BuildASReq(other)
	if err != nil {
		t.Fatal(err)
	}
	good := fakeASRep(t, req, p.Key, req.ReqBody.Nonce)
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		code    int32
	}{
		{"good", good, nil, 0},
		{"wrong nonce", fakeASRep(t, req, p.Key, req.ReqBody.Nonce+1), errNonceMismatch, 0},
		{"wrong key", fakeASRep(t, req, testPrincipal("user1", 2).Key, req.ReqBody.Nonce), ErrBadReply, 0},
		{"other client", fakeASRep(t, otherReq, p.Key, req.ReqBody.Nonce), ErrBadReply, 0},
		{"preauth failed", fakeKRBError(t, errorcode.KDC_ERR_PREAUTH_FAILED), nil, errorcode.KDC_ERR_PREAUTH_FAILED},
		{"empty", nil, ErrMalformedReply, 0},
		{"truncated", good[:len(good)/2], ErrMalformedReply, 0},
		{"other tag", []byte{0x30, 0}, ErrMalformedReply, 0},
		{"truncated error", fakeKRBError(t, 24)[:10], ErrMalformedReply, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := VerifyReply(tc.in, req, p)
			switch {
			case tc.code != 0:
				if code, ok := ErrorCode(err); !ok || code != tc.code {
					t.Fatalf("err = %v, want KDC error %d", err, tc.code)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if rep.DecryptedEncPart.Nonce != req.ReqBody.Nonce || len(rep.DecryptedEncPart.Key.KeyValue) != 32 {
					t.Errorf("decrypted part %+v", rep.DecryptedEncPart)
				}
			}
		})
	}
}

func TestReadFramed(t *testing.T) {
	buf := make([]byte, 16)
	tests := []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{"ok", []byte{0, 0, 0, 3, 'a', 'b', 'c', 'x'}, "abc", false},
		{"zero length", []byte{0, 0, 0, 0}, "", true},
		{"too long", []byte{0, 0, 0, 17}, "", true},
		{"high bit", []byte{0x80, 0, 0, 1, 'a'}, "", true},
		{"short body", []byte{0, 0, 0, 3, 'a'}, "", true},
		{"short header", []byte{0, 0}, "", true},
	}
	for _, tc := range tests {
		got, err := readFramed(bytes.NewReader(tc.in), buf)
		if (err != nil) != tc.err || string(got) != tc.want {
			t.Errorf("%s: got %q, %v", tc.name, got, err)
		}
	}
}

func TestNewClientUnknownTransport(t *testing.T) {
	if _, err := NewClient("127.0.0.1:9", "sctp"); err == nil {
		t.Fatal("unknown transport accepted")
	}
}

func FuzzVerifyReply(f *testing.F) {
	c, err := NewClient("127.0.0.1:9", TCP)
	if err != nil {
		f.Fatal(err)
	}
	p := testPrincipal("user1", 1)
	req, _, err := c.BuildASReq(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fakeASRep(f, req, p.Key, req.ReqBody.Nonce))
	f.Add(fakeASRep(f, req, p.Key, 1))
	f.Add(fakeKRBError(f, 24))
	f.Add([]byte{0x6b, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyReply(data, req, p)
		if err == nil && rep.DecryptedEncPart.Nonce != req.ReqBody.Nonce {
			t.Fatal("accepted a reply with the wrong nonce")
		}
		_, _ = readFramed(bytes.NewReader(data), make([]byte, 64))
	})
}

// waitForWorkers waits (bounded) until krb5kdc has forked n workers.
func waitForWorkers(t *testing.T, k *KDC, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids, err := descendantsOf(k)
		if err == nil && len(kids) >= n {
			return kids
		}
		if time.Now().After(deadline) {
			t.Fatalf("krb5kdc -w %d: workers %v, %v", n, kids, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkClientCost measures the load client's own work per AS exchange
// (build and encrypt the AS-REQ, parse and decrypt the AS-REP), without the
// network or the KDC: the CPU the client takes from the KDC on a shared machine.
func BenchmarkClientCost(b *testing.B) {
	c, err := NewClient("127.0.0.1:9", TCP)
	if err != nil {
		b.Fatal(err)
	}
	slow := testPrincipal("user1", 1)
	fast := slow
	if fast.derived, err = deriveKeys(fast.Key); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    Principal
	}{{"derive-per-message", slow}, {"cached-usage-keys", fast}} {
		b.Run(tc.name, func(b *testing.B) {
			req, _, err := c.BuildASReq(tc.p)
			if err != nil {
				b.Fatal(err)
			}
			reply := fakeASRep(b, req, tc.p.Key, req.ReqBody.Nonce)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.BuildASReq(tc.p); err != nil {
					b.Fatal(err)
				}
				if _, err := VerifyReply(reply, req, tc.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
