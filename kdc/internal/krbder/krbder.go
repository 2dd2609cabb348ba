// Package krbder holds the DER building blocks of Kerberos messages (RFC 4120
// ASN.1: explicit context tags, GeneralString, KerberosTime, PrincipalName)
// on an allocation-free DER builder (builder.go), for the reflection-free encoders of kdc and kdc/krbcred.
package krbder

import (
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// TagGeneralString is the universal tag of GeneralString, which cryptobyte
// has no constant for.
const TagGeneralString = cbasn1.Tag(27)

// Application is the constructed [APPLICATION n] tag.
func Application(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed() | 0x40 }

// Explicit adds [n] EXPLICIT around what f adds.
func Explicit(b *Builder, n uint8, f func()) {
	b.AddASN1(cbasn1.Tag(n).ContextSpecific().Constructed(), f)
}

// Int adds [n] INTEGER.
func Int(b *Builder, n uint8, v int64) {
	Explicit(b, n, func() { b.AddASN1Int64(v) })
}

// Octets adds [n] OCTET STRING.
func Octets(b *Builder, n uint8, v []byte) {
	Explicit(b, n, func() { b.AddASN1OctetString(v) })
}

// GeneralString adds an untagged GeneralString.
func GeneralString(b *Builder, s string) {
	b.AddASN1(TagGeneralString, func() { b.buf = append(b.buf, s...) })
}

// String adds [n] GeneralString (Realm, KerberosString).
func String(b *Builder, n uint8, s string) {
	Explicit(b, n, func() { GeneralString(b, s) })
}

// Time adds [n] KerberosTime: GeneralizedTime "YYYYMMDDHHMMSSZ" in UTC.
func Time(b *Builder, n uint8, t time.Time) {
	Explicit(b, n, func() {
		b.AddASN1(cbasn1.GeneralizedTime, func() {
			b.buf = t.UTC().AppendFormat(b.buf, "20060102150405Z")
		})
	})
}

// PrincipalName adds [n] PrincipalName.
func PrincipalName(b *Builder, n uint8, p types.PrincipalName) {
	Explicit(b, n, func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			Int(b, 0, int64(p.NameType))
			Explicit(b, 1, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					for _, s := range p.NameString {
						GeneralString(b, s)
					}
				})
			})
		})
	})
}
