package mitkdc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestDerivedKeysMatchGokrb5 checks the cached-derived-key path against
// gokrb5's own RFC 3962 implementation, both ways, for both usages and for
// message lengths around the AES block size (CTS handles partial blocks).
func TestDerivedKeysMatchGokrb5(t *testing.T) {
	for _, etype := range []int32{17, 18} {
		key := types.EncryptionKey{KeyType: etype, KeyValue: bytes.Repeat([]byte{0x5a}, map[int32]int{17: 16, 18: 32}[etype])}
		d, err := deriveKeys(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []struct {
			usage uint32
			keys  usageKeys
		}{{keyusage.AS_REQ_PA_ENC_TIMESTAMP, d.timestamp}, {keyusage.AS_REP_ENCPART, d.asRep}} {
			for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 200} {
				msg := bytes.Repeat([]byte{byte(n)}, n)
				ct, err := u.keys.seal(msg)
				if err != nil {
					t.Fatal(err)
				}
				got, err := crypto.DecryptMessage(ct, key, u.usage)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d usage %d len %d: gokrb5 cannot open ours: %v", etype, u.usage, n, err)
				}
				ed, err := crypto.GetEncryptedData(msg, key, u.usage, 0)
				if err != nil {
					t.Fatal(err)
				}
				got, err = u.keys.open(ed.Cipher)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d usage %d len %d: we cannot open gokrb5's: %v", etype, u.usage, n, err)
				}
				ed.Cipher[len(ed.Cipher)/2] ^= 1
				if _, err := u.keys.open(ed.Cipher); !errors.Is(err, errIntegrity) {
					t.Fatalf("tampered ciphertext: err = %v, want errIntegrity", err)
				}
			}
		}
		if _, err := d.timestamp.open(make([]byte, 27)); !errors.Is(err, errIntegrity) {
			t.Errorf("short ciphertext: err = %v", err)
		}
	}
	if _, err := deriveKeys(types.EncryptionKey{KeyType: 23, KeyValue: make([]byte, 16)}); err == nil {
		t.Error("RC4 key accepted for the AES fast path")
	}
}

func TestNewPrincipalUsesDerivedKeys(t *testing.T) {
	p, err := NewPrincipal("BENCH.TEST", "user1", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if p.derived == nil || len(p.Key.KeyValue) != 32 || p.Key.KeyType != 18 {
		t.Fatalf("principal %+v", p)
	}
	slow := Principal{Name: p.Name, Realm: p.Realm, Key: p.Key}
	ed, err := p.encryptTimestamp([]byte("ts"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := crypto.DecryptEncPart(ed, slow.Key, keyusage.AS_REQ_PA_ENC_TIMESTAMP); err != nil || string(got) != "ts" {
		t.Fatalf("fast timestamp does not open with gokrb5: %v", err)
	}
	if ed.EType != 18 || ed.KVNO != 0 {
		t.Errorf("encrypted data header %d/%d", ed.EType, ed.KVNO)
	}
}

func FuzzOpen(f *testing.F) {
	d, err := deriveKeys(types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	good, err := d.asRep.seal([]byte("hello, kdc"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(make([]byte, 28))
	f.Add(make([]byte, 45))
	f.Fuzz(func(t *testing.T, ct []byte) {
		plain, err := d.asRep.open(ct)
		if err == nil && len(plain) != len(ct)-confounderSize-macSize {
			t.Fatalf("plaintext of %d bytes from %d", len(plain), len(ct))
		}
	})
}
