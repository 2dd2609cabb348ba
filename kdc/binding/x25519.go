package binding

import (
	"crypto/subtle"
	"fmt"

	"filippo.io/edwards25519/field"
)

// a24 is (486662 - 2) / 4, the ladder constant of Curve25519 (RFC 7748 §5).
const a24 = 121665

// x25519 sets out to X25519(scalar, u) (RFC 7748 §5), the u-coordinate of the
// clamped scalar times the point with u-coordinate u, and refuses an all-zero
// result (u of low order, RFC 7748 §6.1) as crypto/ecdh does.
//
// It is the RFC's Montgomery ladder over GF(2^255-19). It runs in constant
// time: the same 255 steps and field operations for every scalar, the scalar's
// bits chosen only by public loop indices and acting only through the field's
// masked conditional swap, and the final inversion a fixed addition chain.
func x25519(out, scalar, u *[KeySize]byte) error {
	k := *scalar
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64

	var x1, x2, z2, x3, z3 field.Element
	if _, err := x1.SetBytes(u[:]); err != nil { // ignores the top bit, reduces mod p
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()

	var a, aa, b, bb, e, c, d, da, cb field.Element
	swap := 0
	for t := 254; t >= 0; t-- {
		kt := int(k[t/8]>>(t%8)) & 1
		swap ^= kt
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = kt

		a.Add(&x2, &z2)
		aa.Square(&a)
		b.Subtract(&x2, &z2)
		bb.Square(&b)
		e.Subtract(&aa, &bb)
		c.Add(&x3, &z3)
		d.Subtract(&x3, &z3)
		da.Multiply(&d, &a)
		cb.Multiply(&c, &b)
		x3.Square(x3.Add(&da, &cb))
		z3.Multiply(&x1, z3.Square(z3.Subtract(&da, &cb)))
		x2.Multiply(&aa, &bb)
		z2.Multiply(&e, z2.Add(&aa, z2.Mult32(&e, a24)))
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	x2.Multiply(&x2, z2.Invert(&z2)) // z2 = 0 (u of low order) gives 0
	copy(out[:], x2.Bytes())
	var zero [KeySize]byte
	if subtle.ConstantTimeCompare(out[:], zero[:]) == 1 {
		return fmt.Errorf("%w: low-order point (all-zero shared secret)", ErrBadKey)
	}
	return nil
}
