package kdc

import "errors"

// Sentinel errors of ticket issuance; returned errors wrap them (errors.Is).
var (
	// ErrInvalidPrincipal reports an unusable client or server name or realm.
	ErrInvalidPrincipal = errors.New("kdc: invalid principal")
	// ErrInvalidSID reports a missing or ill-formed user SID (it must be a
	// domain account SID S-1-5-21-x-y-z-RID).
	ErrInvalidSID = errors.New("kdc: invalid SID")
	// ErrUnsupportedKey reports a ticket key that is not aes128/aes256
	// (etype 17/18) of the right length.
	ErrUnsupportedKey = errors.New("kdc: unsupported ticket key")
	// ErrNotRODCKey reports a key without an RODC number (kvno>>16 == 0)
	// given to IssuePartialTGT.
	ErrNotRODCKey = errors.New("kdc: not an RODC krbtgt key")
	// ErrInvalidPolicy reports an unusable lifetime policy.
	ErrInvalidPolicy = errors.New("kdc: invalid ticket policy")
)
