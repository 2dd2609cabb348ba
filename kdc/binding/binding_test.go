package binding

import (
	"bytes"
	"errors"
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
