package rodc

import (
	"errors"

	"github.com/passkdc/passkdc/ldapsync"
)

// Sentinel errors; test with errors.Is. The directory-level ones are
// ldapsync's (an RODC operation fails the way any LDAP operation does), so a
// caller branches on one set whichever package returned the error.
var (
	// ErrNotFound: the object asked for does not exist (LDAP result 32, or
	// no RODC of that name).
	ErrNotFound = ldapsync.ErrNotFound
	// ErrExists: an object that would be created already exists and is not
	// ours (LDAP result 68, or the sAMAccountName is taken by another object).
	ErrExists = ldapsync.ErrExists
	// ErrBadSID: a SID value that cannot be parsed.
	ErrBadSID = ldapsync.ErrBadSID
	// ErrIncomplete: the RODC objects are half-provisioned or inconsistent.
	// `passkdc rodc remove` (Remove) deletes every such leftover.
	ErrIncomplete = errors.New("rodc: RODC objects incomplete or inconsistent")
	// ErrNotRODC: the named computer exists but is not a mock RODC this
	// package manages (a workstation, or a real, promoted domain controller).
	ErrNotRODC = errors.New("rodc: not a passkdc RODC object")
	// ErrPolicyUnresolved: a never-reveal value of the RODC's replication
	// policy cannot be resolved to a SID, so the policy cannot be applied.
	ErrPolicyUnresolved = errors.New("the RODC's never-reveal policy cannot be resolved")
	// ErrFetchAfterRotate: RotateAndFetch reset the key but could not fetch
	// it back; the keytab is unchanged and a later FetchKey completes it.
	ErrFetchAfterRotate = errors.New("key reset, but fetching it back failed")
)

// LDAPError is ldapsync's failed LDAP operation with its result code.
type LDAPError = ldapsync.LDAPError

func wrapLDAP(op, dn string, err error) error { return ldapsync.WrapLDAPError(op, dn, err) }
