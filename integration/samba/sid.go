package samba

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformedSID is wrapped by errors from DecodeSID and EncodeSID.
var ErrMalformedSID = errors.New("samba: malformed SID")

// ErrMalformedGUID is wrapped by errors from DecodeGUID.
var ErrMalformedGUID = errors.New("samba: malformed GUID")

// DecodeError reports binary input that DecodeSID or DecodeGUID rejects.
// It wraps ErrMalformedSID or ErrMalformedGUID; its message is only built
// when asked for.
type DecodeError struct {
	Err       error  // ErrMalformedSID or ErrMalformedGUID
	Field     string // what is wrong: "length", "revision", "sub-authority count"
	Got, Want int    // the offending value and the expected one (-1: any other)
}

func (e *DecodeError) Error() string {
	msg := e.Err.Error() + ": " + e.Field + " " + strconv.Itoa(e.Got)
	if e.Want >= 0 {
		msg += ", want " + strconv.Itoa(e.Want)
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *DecodeError) Unwrap() error { return e.Err }

const (
	sidHeaderLen   = 8  // revision, sub-authority count, 6-byte authority
	sidMaxSubAuths = 15 // MS-DTYP 2.4.2
	guidLen        = 16
)

// DecodeSID converts the binary form of a security identifier (MS-DTYP
// 2.4.2.2, as in objectSid) to its string form, e.g. S-1-5-21-1-2-3-1104.
// The input must be exactly one SID: trailing bytes are an error.
func DecodeSID(b []byte) (string, error) {
	if len(b) < sidHeaderLen {
		return "", &DecodeError{ErrMalformedSID, "length", len(b), sidHeaderLen}
	}
	if b[0] != 1 {
		return "", &DecodeError{ErrMalformedSID, "revision", int(b[0]), 1}
	}
	n := int(b[1])
	if n > sidMaxSubAuths {
		return "", &DecodeError{ErrMalformedSID, "sub-authority count", n, -1}
	}
	if want := sidHeaderLen + 4*n; len(b) != want {
		return "", &DecodeError{ErrMalformedSID, "length", len(b), want}
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(formatAuthority(b[2:8]))
	for i := 0; i < n; i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}

// formatAuthority prints the 48-bit big-endian identifier authority in
// decimal, or as 0x and 12 lower-case hex digits when it does not fit in 32
// bits (MS-DTYP 2.4.2.1; Samba's dom_sid_string prints it so).
func formatAuthority(a []byte) string {
	var v uint64
	for _, c := range a {
		v = v<<8 | uint64(c)
	}
	if v>>32 != 0 {
		return fmt.Sprintf("0x%012x", v)
	}
	return strconv.FormatUint(v, 10)
}

// EncodeSID converts the string form of a SID (S-1-<authority>-<sub>...)
// to its binary form, the inverse of DecodeSID.
func EncodeSID(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return nil, fmt.Errorf("%w: %q", ErrMalformedSID, s)
	}
	subs := parts[3:]
	if len(subs) > sidMaxSubAuths {
		return nil, fmt.Errorf("%w: %q has %d sub-authorities", ErrMalformedSID, s, len(subs))
	}
	auth, err := parseAuthority(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: %q: authority: %v", ErrMalformedSID, s, err)
	}
	out := make([]byte, sidHeaderLen, sidHeaderLen+4*len(subs))
	out[0], out[1] = 1, byte(len(subs))
	for i := 0; i < 6; i++ {
		out[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for _, p := range subs {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: sub-authority %q", ErrMalformedSID, s, p)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}

func parseAuthority(p string) (uint64, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(p), "0x"); ok {
		return strconv.ParseUint(h, 16, 48)
	}
	return strconv.ParseUint(p, 10, 48)
}

// DecodeGUID converts a 16-byte objectGUID to its canonical string form
// (lower case, 8-4-4-4-12). The first three fields are stored little-endian,
// the last two as bytes (MS-DTYP 2.3.4.2).
func DecodeGUID(b []byte) (string, error) {
	if len(b) != guidLen {
		return "", &DecodeError{ErrMalformedGUID, "length", len(b), guidLen}
	}
	var be [guidLen]byte
	be[0], be[1], be[2], be[3] = b[3], b[2], b[1], b[0]
	be[4], be[5] = b[5], b[4]
	be[6], be[7] = b[7], b[6]
	copy(be[8:], b[8:])
	h := hex.EncodeToString(be[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
