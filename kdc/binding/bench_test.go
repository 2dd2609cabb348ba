package binding

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

// The crypto/ecdh implementation this package had before, kept here only to
// benchmark against: GenerateKey runs a full Montgomery ladder for the public
// key, then ECDH a second one.

func ecdhGenerate() (*ecdh.PrivateKey, error) { return ecdh.X25519().GenerateKey(rand.Reader) }

func ecdhServerKey(k *ecdh.PrivateKey, clientPublic []byte, salt string) (types.EncryptionKey, error) {
	pub, err := ecdh.X25519().NewPublicKey(clientPublic)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	secret, err := k.ECDH(pub)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	return keyFrom(secret, clientPublic, k.PublicKey().Bytes(), salt), nil
}

func BenchmarkGenerate(b *testing.B) {
	b.Run("crypto-ecdh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ecdhGenerate(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("edwards25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Generate(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkServerKey(b *testing.B) {
	client, err := Generate()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crypto-ecdh", func(b *testing.B) {
		k, err := ecdhGenerate()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ecdhServerKey(k, client.Public(), "session-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ladder", func(b *testing.B) {
		k, err := Generate()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.ServerKey(client.Public(), "session-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignInBinding is the server's binding work for one sign-in (what
// issuer.Seal does besides the KRB-CRED): a fresh key pair, the binding key
// from the client's public key, and the public key to return.
func BenchmarkSignInBinding(b *testing.B) {
	client, err := Generate()
	if err != nil {
		b.Fatal(err)
	}
	cpub := client.Public()
	b.Run("crypto-ecdh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := ecdhGenerate()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ecdhServerKey(k, cpub, "session-1"); err != nil {
				b.Fatal(err)
			}
			_ = k.PublicKey().Bytes()
		}
	})
	b.Run("edwards25519+ladder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := Generate()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.ServerKey(cpub, "session-1"); err != nil {
				b.Fatal(err)
			}
			_ = k.Public()
		}
	})
}
