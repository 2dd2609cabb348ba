package krbcred

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/passkdc/passkdc/kdc/internal/aescts"
	"github.com/passkdc/passkdc/kdc/internal/krbder"
)

// DER encoding of KRB-CRED without reflection (a sign-in encodes one per
// ticket it issues). The output is byte-for-byte what the reflection-based
// encoding of the wire structs gives (tested against it): zero optional
// fields are omitted as gofork omits zero values.

func addHostAddress(b *krbder.Builder, a types.HostAddress) {
	b.AddASN1(cbasn1.SEQUENCE, func() {
		krbder.Int(b, 0, int64(a.AddrType))
		krbder.Octets(b, 1, a.Address)
	})
}

func zeroName(p types.PrincipalName) bool { return p.NameType == 0 && p.NameString == nil }

func zeroAddress(a types.HostAddress) bool { return a.AddrType == 0 && a.Address == nil }

func addCredInfo(b *krbder.Builder, w krbCredInfoWire) {
	b.AddASN1(cbasn1.SEQUENCE, func() {
		krbder.Explicit(b, 0, func() {
			b.AddASN1(cbasn1.SEQUENCE, func() {
				krbder.Int(b, 0, int64(w.Key.KeyType))
				krbder.Octets(b, 1, w.Key.KeyValue)
			})
		})
		if w.PRealm != "" {
			krbder.String(b, 1, w.PRealm)
		}
		if !zeroName(w.PName) {
			krbder.PrincipalName(b, 2, w.PName)
		}
		if w.Flags.BitLength != 0 || w.Flags.Bytes != nil {
			krbder.Explicit(b, 3, func() {
				b.AddASN1(cbasn1.BIT_STRING, func() {
					b.AddUint8(uint8((8 - w.Flags.BitLength%8) % 8))
					b.AddBytes(w.Flags.Bytes)
				})
			})
		}
		for i, t := range []time.Time{w.AuthTime, w.StartTime, w.EndTime, w.RenewTill} {
			if !t.IsZero() {
				krbder.Time(b, uint8(4+i), t)
			}
		}
		if w.SRealm != "" {
			krbder.String(b, 8, w.SRealm)
		}
		if !zeroName(w.SName) {
			krbder.PrincipalName(b, 9, w.SName)
		}
		if w.CAddr != nil {
			krbder.Explicit(b, 10, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					for _, a := range w.CAddr {
						addHostAddress(b, a)
					}
				})
			})
		}
	})
}

// marshalEncPartDER is the [APPLICATION 29] EncKrbCredPart of w after
// prefix zero bytes, with room after it to encrypt it in place
// (aescts.EncryptPrefixed).
func marshalEncPartDER(prefix int, w encKrbCredPartWire) ([]byte, error) {
	b := krbder.NewBuilder(make([]byte, prefix, 512+prefix+aescts.Slack))
	b.AddASN1(krbder.Application(appTagEncKrbCredPart), func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			krbder.Explicit(b, 0, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					for _, ti := range w.TicketInfo {
						addCredInfo(b, ti)
					}
				})
			})
			if w.Nonce != 0 {
				krbder.Int(b, 1, int64(w.Nonce))
			}
			if !w.Timestamp.IsZero() {
				krbder.Time(b, 2, w.Timestamp)
			}
			if w.Usec != 0 {
				krbder.Int(b, 3, int64(w.Usec))
			}
			if !zeroAddress(w.SAddress) {
				krbder.Explicit(b, 4, func() { addHostAddress(b, w.SAddress) })
			}
			if !zeroAddress(w.RAddress) {
				krbder.Explicit(b, 5, func() { addHostAddress(b, w.RAddress) })
			}
		})
	})
	return b.Bytes()
}

// marshalOuterDER is the [APPLICATION 22] KRB-CRED with the tickets' DER
// copied verbatim.
func marshalOuterDER(tickets [][]byte, ed types.EncryptedData) ([]byte, error) {
	size := 64 + len(ed.Cipher)
	for _, t := range tickets {
		size += len(t)
	}
	b := krbder.NewBuilder(make([]byte, 0, size))
	b.AddASN1(krbder.Application(appTagKRBCred), func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			krbder.Int(b, 0, pvno)
			krbder.Int(b, 1, msgTypeKRBCred)
			krbder.Explicit(b, 2, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					for _, t := range tickets {
						b.AddBytes(t)
					}
				})
			})
			krbder.Explicit(b, 3, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					krbder.Int(b, 0, int64(ed.EType))
					if ed.KVNO != 0 {
						krbder.Int(b, 1, int64(ed.KVNO))
					}
					krbder.Octets(b, 2, ed.Cipher)
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode KRB-CRED: %w", err)
	}
	return out, nil
}

// application is the tag [APPLICATION n], constructed (n < 31).
