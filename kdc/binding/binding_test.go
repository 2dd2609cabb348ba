package binding

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestBothSidesDeriveTheSameKey(t *testing.T) {
	client, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	server, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := server.ServerKey(client.Public(), "session-1")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := client.ClientKey(server.Public(), "session-1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sk.KeyValue, ck.KeyValue) || sk.KeyType != 18 || len(sk.KeyValue) != 32 {
		t.Fatalf("keys differ or wrong type: %d/%x vs %d/%x", sk.KeyType, sk.KeyValue, ck.KeyType, ck.KeyValue)
	}
}

func TestAnotherClientOrSessionDerivesADifferentKey(t *testing.T) {
	client, _ := Generate()
	thief, _ := Generate()
	server, _ := Generate()
	sk, _ := server.ServerKey(client.Public(), "s1")
	tk, _ := thief.ClientKey(server.Public(), "s1")
	if bytes.Equal(sk.KeyValue, tk.KeyValue) {
		t.Fatal("a different client key derived the same binding key")
	}
	ck2, _ := client.ClientKey(server.Public(), "s2")
	if bytes.Equal(sk.KeyValue, ck2.KeyValue) {
		t.Fatal("a different session derived the same binding key")
	}
}

func TestBadPeerKeysAreRefused(t *testing.T) {
	p, _ := Generate()
	for name, k := range map[string][]byte{
		"empty":     nil,
		"short":     make([]byte, 31),
		"long":      make([]byte, 33),
		"all zero":  make([]byte, 32), // low order: shared secret would be zero
		"order one": append([]byte{1}, make([]byte, 31)...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := p.ServerKey(k, "s"); !errors.Is(err, ErrBadKey) {
				t.Fatalf("err = %v, want ErrBadKey", err)
			}
		})
	}
}

// TestHKDFMatchesTheStandardLibrary: the stack HKDF gives crypto/hkdf's key
// for every salt length (a session ID longer than a SHA-256 block is hashed
// first), so clients built before it derive the same binding key.
func TestHKDFMatchesTheStandardLibrary(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5a}, 32)
	label := append(append([]byte(info), bytes.Repeat([]byte{1}, KeySize)...), bytes.Repeat([]byte{2}, KeySize)...)
	for _, n := range []int{0, 1, 32, 63, 64, 65, 140, 300} {
		salt := strings.Repeat("s", n)
		want, err := hkdf.Key(sha256.New, secret, []byte(salt), string(label), 32)
		if err != nil {
			t.Fatal(err)
		}
		got := hkdfSHA256(secret, salt, slices.Clip(label))
		if !bytes.Equal(got[:], want) {
			t.Errorf("salt of %d bytes: %x, crypto/hkdf gives %x", n, got, want)
		}
	}
	// RFC 5869 A.1, the first 32 bytes of its OKM.
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	salt := string([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	got := hkdfSHA256(ikm, salt, []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9})
	if want := "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"; hex.EncodeToString(got[:]) != want {
		t.Errorf("RFC 5869 A.1: %x, want %s", got, want)
	}
}
