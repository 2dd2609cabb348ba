package kdc

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/types"

	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/passkdc/passkdc/kdc/internal/krbder"
)

// DER encoding of EncTicketPart without reflection. The ticket's enc-part is
// encoded twice per ticket (once with the PAC swapped for the ticket
// checksum, once for real); the reflection-based encoder was the largest
// single cost of issuing after the cryptography. The output is byte-for-byte
// what asn1.Marshal gives for encTicketPart (tested), with times in UTC.

// marshalEncTicketPartDER is the DER EncTicketPart, without its
// [APPLICATION 3] tag.
func marshalEncTicketPartDER(p encTicketPart) ([]byte, error) {
	size := 256 + len(p.Key.KeyValue) + len(p.CRealm)
	for _, ad := range p.AuthorizationData {
		size += 16 + len(ad.ADData)
	}
	b := krbder.NewBuilder(make([]byte, 0, size)) // one buffer, sized up front
	b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
		krbder.Explicit(b, 0, func(b *krbder.Builder) {
			b.AddASN1(cbasn1.BIT_STRING, func(b *krbder.Builder) {
				b.AddUint8(uint8((8 - p.Flags.BitLength%8) % 8)) // unused bits
				b.AddBytes(p.Flags.Bytes)
			})
		})
		krbder.Explicit(b, 1, func(b *krbder.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
				krbder.Int(b, 0, int64(p.Key.KeyType))
				krbder.Octets(b, 1, p.Key.KeyValue)
			})
		})
		krbder.Explicit(b, 2, func(b *krbder.Builder) { krbder.GeneralString(b, p.CRealm) })
		krbder.PrincipalName(b, 3, p.CName)
		krbder.Explicit(b, 4, func(b *krbder.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
				krbder.Int(b, 0, int64(p.Transited.TRType))
				krbder.Octets(b, 1, p.Transited.Contents)
			})
		})
		krbder.Time(b, 5, p.AuthTime)
		if !p.StartTime.IsZero() {
			krbder.Time(b, 6, p.StartTime)
		}
		krbder.Time(b, 7, p.EndTime)
		if !p.RenewTill.IsZero() {
			krbder.Time(b, 8, p.RenewTill)
		}
		if p.AuthorizationData != nil {
			krbder.Explicit(b, 10, func(b *krbder.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
					for _, ad := range p.AuthorizationData {
						b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
							krbder.Int(b, 0, int64(ad.ADType))
							krbder.Octets(b, 1, ad.ADData)
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
	b := krbder.NewBuilder(make([]byte, 0, 128+len(t.Realm)+len(t.EncPart.Cipher)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
		krbder.Explicit(b, 0, func(b *krbder.Builder) { b.AddASN1Int64(int64(t.TktVNO)) })
		krbder.Explicit(b, 1, func(b *krbder.Builder) { krbder.GeneralString(b, t.Realm) })
		krbder.PrincipalName(b, 2, t.SName)
		krbder.Explicit(b, 3, func(b *krbder.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
				krbder.Int(b, 0, int64(t.EncPart.EType))
				if t.EncPart.KVNO != 0 {
					krbder.Explicit(b, 1, func(b *krbder.Builder) { b.AddASN1Int64(int64(t.EncPart.KVNO)) })
				}
				krbder.Octets(b, 2, t.EncPart.Cipher)
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal Ticket: %w", err)
	}
	return out, nil
}

// marshalAuthData is the DER AuthorizationData (SEQUENCE OF SEQUENCE {
// ad-type [0] Int32, ad-data [1] OCTET STRING }), what asn1.Marshal gives
// for types.AuthorizationData.
func marshalAuthData(ads types.AuthorizationData) ([]byte, error) {
	size := 8
	for _, ad := range ads {
		size += 16 + len(ad.ADData)
	}
	b := krbder.NewBuilder(make([]byte, 0, size))
	b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
		for _, ad := range ads {
			b.AddASN1(cbasn1.SEQUENCE, func(b *krbder.Builder) {
				krbder.Int(b, 0, int64(ad.ADType))
				krbder.Octets(b, 1, ad.ADData)
			})
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal AuthorizationData: %w", err)
	}
	return out, nil
}

// withAppTag wraps der in the constructed [APPLICATION n] tag (what
// asn1tools.AddASNAppTag gives, without its reflection).
func withAppTag(n uint8, der []byte) ([]byte, error) {
	b := krbder.NewBuilder(make([]byte, 0, len(der)+6))
	b.AddASN1(krbder.Application(n), func(b *krbder.Builder) { b.AddBytes(der) })
	return b.Bytes()
}
