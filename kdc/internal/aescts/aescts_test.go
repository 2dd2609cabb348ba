package aescts

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"testing"
	"testing/cryptotest"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestNFoldVectors: the n-fold test vectors of RFC 3961 appendix A.1, and
// gokrb5's n-fold for the usage constants.
func TestNFoldVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits int
		want string
	}{
		{"012345", 64, "be072631276b1955"},
		{"password", 56, "78a07b6caf85fa"},
		{"Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"},
		{"password", 168, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"},
		{"MASSACHVSETTS INSTITVTE OF TECHNOLOGY", 192, "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"},
		{"Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"},
		{"ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"},
	} {
		if got := hex.EncodeToString(NFold([]byte(tc.in), tc.bits/8)); got != tc.want {
			t.Errorf("%d-fold(%q) = %s, want %s", tc.bits, tc.in, got, tc.want)
		}
	}
	for usage := uint32(0); usage < 30; usage++ {
		for _, kind := range []byte{0xaa, 0x55, 0x99} {
			c := usageConstant(usage, kind)
			if got, want := NFold(c[:], 16), rfc3961.Nfold(c[:], 128); !bytes.Equal(got, want) {
				t.Fatalf("usage %d/%x: %x, gokrb5 %x", usage, kind, got, want)
			}
		}
	}
}

// TestDeriveAndEncryptMatchGokrb5: the derived keys are gokrb5's, and what
// Encrypt gives decrypts with gokrb5's RFC 3962 code for every length around
// the block boundaries.
func TestDeriveAndEncryptMatchGokrb5(t *testing.T) {
	for _, etype := range []int32{AES128, AES256} {
		size := 16
		if etype == AES256 {
			size = 32
		}
		key := bytes.Repeat([]byte{byte(etype)}, size)
		et, err := crypto.GetEtype(etype)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []uint32{2, 14, 17} {
			k, err := Derive(etype, key, usage)
			if err != nil {
				t.Fatal(err)
			}
			wantKi, err := et.DeriveKey(key, common.GetUsageKi(usage))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.ki[:k.kiLen], wantKi) {
				t.Fatalf("etype %d usage %d: Ki %x, gokrb5 %x", etype, usage, k.ki[:k.kiLen], wantKi)
			}
			for n := 0; n <= 70; n++ {
				plain := bytes.Repeat([]byte{byte(n)}, n)
				ct, err := k.Encrypt(plain)
				if err != nil {
					t.Fatal(err)
				}
				got, err := crypto.DecryptEncPart(types.EncryptedData{EType: etype, Cipher: ct},
					types.EncryptionKey{KeyType: etype, KeyValue: key}, usage)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("etype %d usage %d, %d bytes: %v", etype, usage, n, err)
				}
			}
		}
	}
	if _, err := Derive(AES256, make([]byte, 16), 2); err == nil {
		t.Fatal("a 16-byte key was taken for aes256")
	}
}

// TestHMACSHA1MatchesTheStandardLibrary: the stack HMAC gives crypto/hmac's
// MAC for keys shorter than, as long as and longer than a block, and for
// messages that fit the stack buffer and that do not; RFC 2202's first
// vector pins it too.
func TestHMACSHA1MatchesTheStandardLibrary(t *testing.T) {
	for _, kn := range []int{0, 16, 32, 64, 65, 131} {
		for _, mn := range []int{0, 1, 55, 64, 1500, 4096, 4097, 20000} {
			key := bytes.Repeat([]byte{byte(kn)}, kn)
			msg := bytes.Repeat([]byte{byte(mn), 7}, mn)[:mn]
			m := hmac.New(sha1.New, key)
			m.Write(msg)
			if got := HMACSHA1(key, msg); !bytes.Equal(got[:], m.Sum(nil)) {
				t.Errorf("key %d, message %d bytes: %x, crypto/hmac gives %x", kn, mn, got, m.Sum(nil))
			}
		}
	}
	got := HMACSHA1(bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"))
	if want := "b617318655057264e28bc0b6fb378c8ef146be00"; hex.EncodeToString(got[:]) != want {
		t.Errorf("RFC 2202 test case 1: %x, want %s", got, want)
	}
}

// TestHMACSHA1Allocations: a MAC of a ticket-sized message allocates nothing.
func TestHMACSHA1Allocations(t *testing.T) {
	key, msg := make([]byte, 32), make([]byte, 1500)
	if n := testing.AllocsPerRun(100, func() { _ = HMACSHA1(key, msg) }); n != 0 {
		t.Errorf("HMACSHA1: %v allocations, want 0", n)
	}
}

// TestKnownFoldsAreTheNFolds: the n-fold of every usage constant, the
// constant ones (usages 2 and 14) and the computed ones, is NFold's and
// gokrb5's.
func TestKnownFoldsAreTheNFolds(t *testing.T) {
	for usage := uint32(0); usage < 30; usage++ {
		for _, kind := range []byte{0xaa, 0x55, 0x99} {
			c := usageConstant(usage, kind)
			got := foldedUsage(usage, kind)
			if !bytes.Equal(got[:], NFold(c[:], 16)) || !bytes.Equal(got[:], rfc3961.Nfold(c[:], 128)) {
				t.Errorf("usage %d/%#x: %x, NFold %x", usage, kind, got, NFold(c[:], 16))
			}
		}
	}
}

// TestDeriveMatchesGokrb5ForEveryUsage: Ke and Ki are gokrb5's DK for the
// usages of the table and others (Ke compared through one block encrypted).
func TestDeriveMatchesGokrb5ForEveryUsage(t *testing.T) {
	for _, etype := range []int32{AES128, AES256} {
		key := bytes.Repeat([]byte{0x3c}, map[int32]int{AES128: 16, AES256: 32}[etype])
		et, err := crypto.GetEtype(etype)
		if err != nil {
			t.Fatal(err)
		}
		for usage := uint32(0); usage < 30; usage++ {
			k, err := Derive(etype, key, usage)
			if err != nil {
				t.Fatal(err)
			}
			ke, err := et.DeriveKey(key, common.GetUsageKe(usage))
			if err != nil {
				t.Fatal(err)
			}
			ki, err := et.DeriveKey(key, common.GetUsageKi(usage))
			if err != nil {
				t.Fatal(err)
			}
			block, err := aes.NewCipher(ke)
			if err != nil {
				t.Fatal(err)
			}
			in := []byte("sixteen byte blk")
			want, got := make([]byte, 16), make([]byte, 16)
			block.Encrypt(want, in)
			k.ke.Encrypt(got, in)
			if !bytes.Equal(got, want) || !bytes.Equal(k.ki[:k.kiLen], ki) {
				t.Errorf("etype %d usage %d: keys differ from gokrb5's", etype, usage)
			}
			dki, err := DK(key, common.GetUsageKi(usage))
			if err != nil || !bytes.Equal(dki, ki) {
				t.Errorf("etype %d usage %d: DK %x, gokrb5 %x (%v)", etype, usage, dki, ki, err)
			}
		}
	}
}

// TestEncryptAllocations: encrypting a ticket-sized message allocates its
// output only; deriving the keys, the two key schedules and one block.
func TestEncryptAllocations(t *testing.T) {
	k, err := Derive(AES256, make([]byte, 32), 2)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if n := testing.AllocsPerRun(100, func() { _, _ = Derive(AES256, key, 14) }); n != 3 {
		t.Errorf("Derive: %v allocations, want 3", n)
	}
	msg := make([]byte, 1500)
	if n := testing.AllocsPerRun(100, func() { _, _ = k.Encrypt(msg) }); n != 1 {
		t.Errorf("Encrypt: %v allocations, want 1", n)
	}
}

// TestDecryptOpensGokrb5AndOurs: Decrypt opens what gokrb5 encrypts and
// what Encrypt gives for every length around the block boundaries, and
// refuses an altered ciphertext, a wrong key, a wrong usage and a short one.
func TestDecryptOpensGokrb5AndOurs(t *testing.T) {
	for _, etype := range []int32{AES128, AES256} {
		key := bytes.Repeat([]byte{byte(etype) + 1}, map[int32]int{AES128: 16, AES256: 32}[etype])
		ekey := types.EncryptionKey{KeyType: etype, KeyValue: key}
		k, err := Derive(etype, key, 14)
		if err != nil {
			t.Fatal(err)
		}
		other, err := Derive(etype, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n <= 70; n++ {
			plain := bytes.Repeat([]byte{byte(n), 0xc3}, n)[:n]
			ed, err := crypto.GetEncryptedData(plain, ekey, 14, 0)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := k.Encrypt(plain)
			if err != nil {
				t.Fatal(err)
			}
			for what, ct := range map[string][]byte{"gokrb5": ed.Cipher, "ours": ours} {
				got, err := k.Decrypt(ct)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("etype %d, %d bytes from %s: %x, %v", etype, n, what, got, err)
				}
				for _, i := range []int{0, len(ct) / 2, len(ct) - 13, len(ct) - 1} {
					bad := bytes.Clone(ct)
					bad[i] ^= 1
					if _, err := k.Decrypt(bad); !errors.Is(err, ErrIntegrity) {
						t.Fatalf("etype %d, %d bytes: byte %d altered: %v", etype, n, i, err)
					}
				}
				if _, err := other.Decrypt(ct); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("etype %d, %d bytes: opened with the usage 2 keys: %v", etype, n, err)
				}
			}
		}
		if _, err := k.Decrypt(make([]byte, 27)); err == nil {
			t.Fatal("a 27-byte ciphertext was opened")
		}
	}
}

// BenchmarkHMACSHA1 is the MAC of a ticket-sized message.
func BenchmarkHMACSHA1(b *testing.B) {
	key, msg := make([]byte, 32), make([]byte, 1200)
	b.ReportAllocs()
	for b.Loop() {
		_ = HMACSHA1(key, msg)
	}
}

// TestEncryptPrefixedIsEncryptInPlace: with the same random stream,
// EncryptPrefixed of Prefix bytes and plain gives Encrypt's ciphertext, in
// the buffer's own memory when it has Slack to spare and in a copy when it
// has not; a buffer shorter than the prefix is refused.
func TestEncryptPrefixedIsEncryptInPlace(t *testing.T) {
	k, err := Derive(AES256, bytes.Repeat([]byte{9}, 32), 2)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 40; n++ {
		plain := bytes.Repeat([]byte{byte(n), 1}, n)[:n]
		cryptotest.SetGlobalRandom(t, uint64(n))
		want, err := k.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, slack := range []int{Slack, 0} {
			cryptotest.SetGlobalRandom(t, uint64(n))
			buf := append(make([]byte, Prefix, Prefix+n+slack), plain...)
			got, err := k.EncryptPrefixed(buf)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, slack %d: %x, Encrypt gives %x (%v)", n, slack, got, want, err)
			}
			if inPlace := &got[0] == &buf[0]; inPlace != (slack == Slack) {
				t.Fatalf("%d bytes, slack %d: in place %v", n, slack, inPlace)
			}
		}
	}
	if _, err := k.EncryptPrefixed(make([]byte, Prefix-1, 64)); err == nil {
		t.Fatal("a buffer shorter than the prefix was encrypted")
	}
}
