package kdc

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DER encoding of EncTicketPart without reflection. The ticket's enc-part is
// encoded twice per ticket (once with the PAC swapped for the ticket
// checksum, once for real); the reflection-based encoder was the largest
// single cost of issuing after the cryptography. The output is byte-for-byte
// what asn1.Marshal gives for encTicketPart (tested), with times in UTC.

// Universal tags of Kerberos types cryptobyte has no constant for.
const tagGeneralString = cbasn1.Tag(27)

// explicit adds [n] EXPLICIT around what f adds.
func explicit(b *cryptobyte.Builder, n uint8, f cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.Tag(n).ContextSpecific().Constructed(), f)
}

func addInt32(b *cryptobyte.Builder, n uint8, v int32) {
	explicit(b, n, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(v)) })
}

func addOctets(b *cryptobyte.Builder, n uint8, v []byte) {
	explicit(b, n, func(b *cryptobyte.Builder) { b.AddASN1OctetString(v) })
}

func addGeneralString(b *cryptobyte.Builder, s string) {
	b.AddASN1(tagGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// addKerberosTime adds [n] KerberosTime: GeneralizedTime "YYYYMMDDHHMMSSZ".
func addKerberosTime(b *cryptobyte.Builder, n uint8, t time.Time) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) {
			b.AddBytes([]byte(t.UTC().Format("20060102150405Z")))
		})
	})
}

func addPrincipalName(b *cryptobyte.Builder, n uint8, p types.PrincipalName) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt32(b, 0, p.NameType)
			explicit(b, 1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, s := range p.NameString {
						addGeneralString(b, s)
					}
				})
			})
		})
	})
}

// marshalEncTicketPartDER is the DER EncTicketPart, without its
// [APPLICATION 3] tag.
func marshalEncTicketPartDER(p encTicketPart) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		explicit(b, 0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
				b.AddUint8(uint8((8 - p.Flags.BitLength%8) % 8)) // unused bits
				b.AddBytes(p.Flags.Bytes)
			})
		})
		explicit(b, 1, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt32(b, 0, p.Key.KeyType)
				addOctets(b, 1, p.Key.KeyValue)
			})
		})
		explicit(b, 2, func(b *cryptobyte.Builder) { addGeneralString(b, p.CRealm) })
		addPrincipalName(b, 3, p.CName)
		explicit(b, 4, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt32(b, 0, p.Transited.TRType)
				addOctets(b, 1, p.Transited.Contents)
			})
		})
		addKerberosTime(b, 5, p.AuthTime)
		if !p.StartTime.IsZero() {
			addKerberosTime(b, 6, p.StartTime)
		}
		addKerberosTime(b, 7, p.EndTime)
		if !p.RenewTill.IsZero() {
			addKerberosTime(b, 8, p.RenewTill)
		}
		if p.AuthorizationData != nil {
			explicit(b, 10, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, ad := range p.AuthorizationData {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							addInt32(b, 0, ad.ADType)
							addOctets(b, 1, ad.ADData)
						})
					}
				})
			})
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal EncTicketPart: %w", err)
	}
	return out, nil
}

// marshalTicketDER is the DER Ticket, without its [APPLICATION 1] tag: the
// bytes asn1.Marshal gives for ticketASN1 (an EncryptedData kvno of 0 is
// omitted, as its optional field is).
func marshalTicketDER(t ticketASN1) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		explicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(t.TktVNO)) })
		explicit(b, 1, func(b *cryptobyte.Builder) { addGeneralString(b, t.Realm) })
		addPrincipalName(b, 2, t.SName)
		explicit(b, 3, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt32(b, 0, t.EncPart.EType)
				if t.EncPart.KVNO != 0 {
					explicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(t.EncPart.KVNO)) })
				}
				addOctets(b, 2, t.EncPart.Cipher)
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal Ticket: %w", err)
	}
	return out, nil
}
