package krbcred

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DER encoding of KRB-CRED without reflection (a sign-in encodes one per
// ticket it issues). The output is byte-for-byte what the reflection-based
// encoding of the wire structs gives (tested against it): zero optional
// fields are omitted as gofork omits zero values.

const derGeneralString = cbasn1.Tag(27)

func ctx(b *cryptobyte.Builder, n uint8, f cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.Tag(n).ContextSpecific().Constructed(), f)
}

func addInt(b *cryptobyte.Builder, n uint8, v int64) {
	ctx(b, n, func(b *cryptobyte.Builder) { b.AddASN1Int64(v) })
}

func addOctets(b *cryptobyte.Builder, n uint8, v []byte) {
	ctx(b, n, func(b *cryptobyte.Builder) { b.AddASN1OctetString(v) })
}

func addString(b *cryptobyte.Builder, n uint8, s string) {
	ctx(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(derGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
	})
}

func addTime(b *cryptobyte.Builder, n uint8, t time.Time) {
	ctx(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) {
			b.AddBytes([]byte(t.UTC().Format("20060102150405Z")))
		})
	})
}

func addName(b *cryptobyte.Builder, n uint8, p types.PrincipalName) {
	ctx(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(p.NameType))
			ctx(b, 1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, s := range p.NameString {
						b.AddASN1(derGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
					}
				})
			})
		})
	})
}

func addHostAddress(b *cryptobyte.Builder, a types.HostAddress) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addInt(b, 0, int64(a.AddrType))
		addOctets(b, 1, a.Address)
	})
}

func zeroName(p types.PrincipalName) bool { return p.NameType == 0 && p.NameString == nil }

func zeroAddress(a types.HostAddress) bool { return a.AddrType == 0 && a.Address == nil }

func addCredInfo(b *cryptobyte.Builder, w krbCredInfoWire) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		ctx(b, 0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt(b, 0, int64(w.Key.KeyType))
				addOctets(b, 1, w.Key.KeyValue)
			})
		})
		if w.PRealm != "" {
			addString(b, 1, w.PRealm)
		}
		if !zeroName(w.PName) {
			addName(b, 2, w.PName)
		}
		if w.Flags.BitLength != 0 || w.Flags.Bytes != nil {
			ctx(b, 3, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
					b.AddUint8(uint8((8 - w.Flags.BitLength%8) % 8))
					b.AddBytes(w.Flags.Bytes)
				})
			})
		}
		for i, t := range []time.Time{w.AuthTime, w.StartTime, w.EndTime, w.RenewTill} {
			if !t.IsZero() {
				addTime(b, uint8(4+i), t)
			}
		}
		if w.SRealm != "" {
			addString(b, 8, w.SRealm)
		}
		if !zeroName(w.SName) {
			addName(b, 9, w.SName)
		}
		if w.CAddr != nil {
			ctx(b, 10, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, a := range w.CAddr {
						addHostAddress(b, a)
					}
				})
			})
		}
	})
}

// marshalEncPartDER is the [APPLICATION 29] EncKrbCredPart of w.
func marshalEncPartDER(w encKrbCredPartWire) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(application(appTagEncKrbCredPart), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			ctx(b, 0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, ti := range w.TicketInfo {
						addCredInfo(b, ti)
					}
				})
			})
			if w.Nonce != 0 {
				addInt(b, 1, int64(w.Nonce))
			}
			if !w.Timestamp.IsZero() {
				addTime(b, 2, w.Timestamp)
			}
			if w.Usec != 0 {
				addInt(b, 3, int64(w.Usec))
			}
			if !zeroAddress(w.SAddress) {
				ctx(b, 4, func(b *cryptobyte.Builder) { addHostAddress(b, w.SAddress) })
			}
			if !zeroAddress(w.RAddress) {
				ctx(b, 5, func(b *cryptobyte.Builder) { addHostAddress(b, w.RAddress) })
			}
		})
	})
	return b.Bytes()
}

// marshalOuterDER is the [APPLICATION 22] KRB-CRED with the tickets' DER
// copied verbatim.
func marshalOuterDER(tickets [][]byte, ed types.EncryptedData) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(application(appTagKRBCred), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, pvno)
			addInt(b, 1, msgTypeKRBCred)
			ctx(b, 2, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, t := range tickets {
						b.AddBytes(t)
					}
				})
			})
			ctx(b, 3, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					addInt(b, 0, int64(ed.EType))
					if ed.KVNO != 0 {
						addInt(b, 1, int64(ed.KVNO))
					}
					addOctets(b, 2, ed.Cipher)
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
func application(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed() | 0x40 }
