package binding

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) *[KeySize]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeySize {
		t.Fatalf("bad test vector %q: %v", s, err)
	}
	return (*[KeySize]byte)(b)
}

// TestX25519RFC7748Vectors: the ladder gives RFC 7748 §5.2's outputs, the
// second one with the top bit of u set (ignored) and a non-canonical u.
func TestX25519RFC7748Vectors(t *testing.T) {
	for _, tc := range []struct{ name, scalar, u, want string }{
		{"5.2 first", "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"5.2 second", "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out [KeySize]byte
			if err := x25519(&out, unhex(t, tc.scalar), unhex(t, tc.u)); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(out[:]); got != tc.want {
				t.Fatalf("X25519 = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestX25519RFC7748Iterations: RFC 7748 §5.2's iterated test, k = u = 9 and
// then (k, u) = (X25519(k, u), k), after 1 and 1,000 iterations.
func TestX25519RFC7748Iterations(t *testing.T) {
	var k, u, next [KeySize]byte
	k[0], u[0] = 9, 9
	want := map[int]string{
		1:    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
		1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
	}
	for i := 1; i <= 1000; i++ {
		if err := x25519(&next, &k, &u); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		u, k = k, next
		if w, ok := want[i]; ok && hex.EncodeToString(k[:]) != w {
			t.Errorf("after %d iterations k = %x, want %s", i, k, w)
		}
	}
}

// TestRFC7748DiffieHellman: RFC 7748 §6.1's Alice and Bob get their public
// keys from Generate's computation and the shared secret from either side,
// and ServerKey and ClientKey give the same binding key from them.
func TestRFC7748DiffieHellman(t *testing.T) {
	const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
	alice, err := newPrivateKey(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := newPrivateKey(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		self, peer *PrivateKey
		public     string
	}{
		{"Alice", alice, bob, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"},
		{"Bob", bob, alice, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.self.Public()); got != tc.public {
				t.Errorf("public key %s, want %s", got, tc.public)
			}
			var out [KeySize]byte
			if err := x25519(&out, &tc.self.scalar, &tc.peer.public); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(out[:]); got != shared {
				t.Errorf("shared secret %s, want %s", got, shared)
			}
		})
	}
	// The binding key with Alice as the server and Bob as the client, as the
	// crypto/ecdh implementation before this one derived it.
	const want = "15b02180961aa2e86c5269f71f6a0125d2b2b41f856903c703232779139838b3"
	sk, err := alice.ServerKey(bob.Public(), "session-1")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := bob.ClientKey(alice.Public(), "session-1")
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sk.KeyValue) != want || hex.EncodeToString(ck.KeyValue) != want || sk.KeyType != 18 {
		t.Errorf("ServerKey %d/%x, ClientKey %x, want both 18/%s", sk.KeyType, sk.KeyValue, ck.KeyValue, want)
	}
}

// TestBindingKeyIsTheStandardLibrarys: for random key pairs, ServerKey and
// ClientKey give HKDF-SHA256 (crypto/hkdf) of crypto/ecdh's shared secret,
// the derivation clients and servers built before this code use.
func TestBindingKeyIsTheStandardLibrarys(t *testing.T) {
	for range 100 {
		server, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		client, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := client.ECDH(mustPublic(t, server.Public()))
		if err != nil {
			t.Fatal(err)
		}
		cpub := client.PublicKey().Bytes()
		want, err := hkdf.Key(sha256.New, secret, []byte("s"), info+string(cpub)+string(server.Public()), 32)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := server.ServerKey(cpub, "s")
		if err != nil || !bytes.Equal(sk.KeyValue, want) {
			t.Fatalf("ServerKey %x (%v), want %x", sk.KeyValue, err, want)
		}
		ours, err := newPrivateKey((*[KeySize]byte)(client.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := ours.ClientKey(server.Public(), "s")
		if err != nil || !bytes.Equal(ck.KeyValue, want) {
			t.Fatalf("ClientKey %x (%v), want %x", ck.KeyValue, err, want)
		}
	}
}

// TestSameAsCryptoECDH: on random scalars, Generate's public key is
// crypto/ecdh's, and the shared secret with crypto/ecdh's peer (both ways)
// and with an arbitrary 32-byte u (any top bit, possibly non-canonical) is
// crypto/ecdh's, so clients and servers of either kind agree.
func TestSameAsCryptoECDH(t *testing.T) {
	curve := ecdh.X25519()
	for i := range 1000 {
		var scalar, u [KeySize]byte
		rand.Read(scalar[:])
		rand.Read(u[:])
		if i%10 == 0 { // non-canonical: p .. 2^255-1, top bit set or not
			u = [KeySize]byte{0xed + byte(i%19), 31: 0x7f | u[31]&0x80}
			for j := 1; j < 31; j++ {
				u[j] = 0xff
			}
		}
		ours, err := newPrivateKey(&scalar)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := curve.NewPrivateKey(scalar[:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Public(), theirs.PublicKey().Bytes()) {
			t.Fatalf("scalar %x: public %x, crypto/ecdh %x", scalar, ours.Public(), theirs.PublicKey().Bytes())
		}
		peer, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, pub := range [][]byte{peer.PublicKey().Bytes(), u[:]} {
			ecdhPub, err := curve.NewPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := theirs.ECDH(ecdhPub)
			var got [KeySize]byte
			gotErr := x25519(&got, &scalar, (*[KeySize]byte)(pub))
			if (gotErr != nil) != (wantErr != nil) || (wantErr == nil && !bytes.Equal(got[:], want)) {
				t.Fatalf("scalar %x, u %x: %x (%v), crypto/ecdh %x (%v)", scalar, pub, got, gotErr, want, wantErr)
			}
		}
		back, err := peer.ECDH(mustPublic(t, ours.Public()))
		if err != nil {
			t.Fatal(err)
		}
		var got [KeySize]byte
		if err := x25519(&got, &scalar, (*[KeySize]byte)(peer.PublicKey().Bytes())); err != nil || !bytes.Equal(got[:], back) {
			t.Fatalf("scalar %x: our side %x (%v), crypto/ecdh's side %x", scalar, got, err, back)
		}
	}
}

func mustPublic(t *testing.T, b []byte) *ecdh.PublicKey {
	t.Helper()
	k, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestLowOrderPointsAreRefused: every u-coordinate of a point of order 1, 2,
// 4 or 8, canonical or not (p and p+1), and each with the ignored top bit
// set, gives an all-zero shared secret, which ServerKey and ClientKey refuse
// with ErrBadKey, as crypto/ecdh refuses it.
func TestLowOrderPointsAreRefused(t *testing.T) {
	for _, u := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0, order 4
		"0100000000000000000000000000000000000000000000000000000000000000", // 1, order 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1, order 2
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p = 0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1 = 1
	} {
		for _, top := range []byte{0, 0x80} {
			b := *unhex(t, u)
			b[31] |= top
			t.Run(hex.EncodeToString(b[:]), func(t *testing.T) {
				p, err := Generate()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.ServerKey(b[:], "s"); !errors.Is(err, ErrBadKey) {
					t.Errorf("ServerKey: err = %v, want ErrBadKey", err)
				}
				if _, err := p.ClientKey(b[:], "s"); !errors.Is(err, ErrBadKey) {
					t.Errorf("ClientKey: err = %v, want ErrBadKey", err)
				}
				ref, err := ecdh.X25519().NewPrivateKey(p.scalar[:])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ref.ECDH(mustPublic(t, b[:])); err == nil {
					t.Errorf("crypto/ecdh accepts it: not a low-order point")
				}
			})
		}
	}
}
