package pac

import (
	"errors"

	"github.com/passkdc/passkdc/kdc/sid"
)

// Sentinel errors; every error returned by this package wraps one of them so
// callers can branch with errors.Is.
var (
	// ErrInvalidSID reports a SID string or encoding that cannot be used
	// (it is sid.ErrInvalid).
	ErrInvalidSID = sid.ErrInvalid
	// ErrInvalidValue reports a field value the wire format cannot carry.
	ErrInvalidValue = errors.New("pac: invalid value")
	// ErrUnsupportedKey reports a signing key whose encryption type has no
	// PAC checksum type supported here (only AES128/AES256 are).
	ErrUnsupportedKey = errors.New("pac: unsupported signing key")
	// ErrMalformed reports PAC bytes that cannot be parsed.
	ErrMalformed = errors.New("pac: malformed PAC")
	// ErrMissingBuffer reports a PAC lacking a buffer that is required.
	ErrMissingBuffer = errors.New("pac: missing buffer")
	// ErrBadChecksum reports a PAC signature that does not verify.
	ErrBadChecksum = errors.New("pac: checksum mismatch")
)
