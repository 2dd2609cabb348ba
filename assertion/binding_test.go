package assertion

import (
	"crypto/ecdh"
	"crypto/rand"
	"math/big"
	"testing"
)

// x25519Bytes encodes u (reduced or not) as a 32-byte little-endian key,
// optionally with the top bit set (which X25519 ignores).
func x25519Bytes(u *big.Int, topBit bool) []byte {
	be := u.FillBytes(make([]byte, 32))
	out := make([]byte, 32)
	for i := range be {
		out[i] = be[31-i]
	}
	if topBit {
		out[31] |= 0x80
	}
	return out
}

// probeLowOrder is the reference: an ECDH with a fresh key yields an
// all-zero secret (an error in crypto/ecdh) exactly for low-order points.
func probeLowOrder(t *testing.T, k []byte) bool {
	t.Helper()
	pub, err := ecdh.X25519().NewPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = priv.ECDH(pub)
	return err != nil
}

// TestLowOrderX25519MatchesECDH: the table check refuses every small-order
// key in every encoding (canonical, u+p, top bit set) and nothing else, as an
// ECDH probe would.
func TestLowOrderX25519MatchesECDH(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	o8a, _ := new(big.Int).SetString("325606250916557431795983626356110631294008115727848805560023387167927233504", 10)
	o8b, _ := new(big.Int).SetString("39382357235489614581723060781553021112529911719440698176882885853963445705823", 10)
	low := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(p, big.NewInt(1)), o8a, o8b,
		new(big.Int).Set(p), new(big.Int).Add(p, big.NewInt(1))} // u+p encodings of 0 and 1
	var keys [][]byte
	for _, u := range low {
		keys = append(keys, x25519Bytes(u, false), x25519Bytes(u, true))
	}
	for range 64 {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.PublicKey().Bytes())
	}
	for _, u := range []int64{2, 9, 18} { // small but not low-order
		keys = append(keys, x25519Bytes(big.NewInt(u), false), x25519Bytes(new(big.Int).Add(p, big.NewInt(u)), false))
	}
	lowCount := 0
	for i, k := range keys {
		want := probeLowOrder(t, k)
		if got := lowOrderX25519(k); got != want {
			t.Errorf("key %d %x: lowOrderX25519 = %v, ECDH probe says %v", i, k, got, want)
		}
		if want {
			lowCount++
		}
	}
	if lowCount != 2*len(low) {
		t.Errorf("ECDH probe found %d low-order keys, want %d: the reference table is wrong", lowCount, 2*len(low))
	}
}

// TestValidateBindingKeyAllocations: checking a good binding key (every
// sign-in begin) costs at most crypto/ecdh's parse of it.
func TestValidateBindingKeyAllocations(t *testing.T) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey().Bytes()
	if n := testing.AllocsPerRun(100, func() { _ = lowOrderX25519(pub) }); n != 0 {
		t.Errorf("lowOrderX25519: %v allocations, want 0", n)
	}
}
