package ldapsync

import (
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// Sentinel errors; test with errors.Is. Errors returned by this package wrap
// one of them where a caller may want to branch, together with the cause.
var (
	// ErrUnreachable: the directory could not be reached (DNS, TCP connect,
	// timeout, connection dropped).
	ErrUnreachable = errors.New("ldapsync: directory unreachable")
	// ErrTLS: the TLS handshake (LDAPS or StartTLS) failed, e.g. an untrusted
	// certificate or a name mismatch.
	ErrTLS = errors.New("ldapsync: TLS failure")
	// ErrBadCredentials: the bind DN or password was refused (LDAP result 49).
	ErrBadCredentials = errors.New("ldapsync: bad bind credentials")
	// ErrNotFound: the object asked for does not exist (LDAP result 32, or no
	// RODC of that name).
	ErrNotFound = errors.New("ldapsync: not found")
	// ErrExists: an object that would be created already exists and is not
	// ours (LDAP result 68, or the sAMAccountName is taken by another object).
	ErrExists = errors.New("ldapsync: already exists")
)

// LDAPError is a failed LDAP operation with its result code. It unwraps to
// the go-ldap error and matches ErrNotFound (32), ErrExists (68),
// ErrBadCredentials (49) and ErrUnreachable (network errors) with errors.Is.
type LDAPError struct {
	Op   string // "search", "add", "modify", "modrdn", "delete", "bind"
	DN   string // the entry operated on
	Code uint16 // LDAP result code (go-ldap uses 200+ for client-side errors)
	Err  error  // the go-ldap error
}

// Error implements error.
func (e *LDAPError) Error() string {
	name := ldap.LDAPResultCodeMap[e.Code]
	if name == "" {
		name = "unknown result"
	}
	return fmt.Sprintf("ldap %s %q: %s (%d): %v", e.Op, e.DN, name, e.Code, e.Err)
}

// Unwrap returns the underlying go-ldap error.
func (e *LDAPError) Unwrap() error { return e.Err }

// Is maps result codes onto this package's sentinel errors.
func (e *LDAPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == ldap.LDAPResultNoSuchObject
	case ErrExists:
		return e.Code == ldap.LDAPResultEntryAlreadyExists
	case ErrBadCredentials:
		return e.Code == ldap.LDAPResultInvalidCredentials
	case ErrUnreachable:
		return e.Code == ldap.ErrorNetwork
	}
	return false
}

// wrapLDAP turns a go-ldap error into an *LDAPError (nil stays nil).
func wrapLDAP(op, dn string, err error) error {
	if err == nil {
		return nil
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return &LDAPError{Op: op, DN: dn, Code: le.ResultCode, Err: err}
	}
	return fmt.Errorf("ldap %s %q: %w", op, dn, err)
}

// WrapLDAPError wraps a go-ldap error of operation op on dn as *LDAPError
// (nil stays nil), so that errors.Is matches this package's sentinels. The
// rodc package uses it for its own LDAP operations.
func WrapLDAPError(op, dn string, err error) error { return wrapLDAP(op, dn, err) }
