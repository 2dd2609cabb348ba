package drsr

import "errors"

// Errors callers branch on. Every error Fetch returns wraps exactly one of
// them; none carries key material.
var (
	// ErrUnreachable: the DC's endpoint mapper (TCP 135) or its DRSUAPI port
	// did not answer.
	ErrUnreachable = errors.New("domain controller unreachable")
	// ErrAuthentication: the DC refused the credentials (wrong user name or
	// password).
	ErrAuthentication = errors.New("domain controller refused the credentials")
	// ErrAccessDenied: authenticated, but the account may not replicate
	// secrets (it needs Replicating Directory Changes and Replicating
	// Directory Changes All on the domain naming context), or the
	// connection was not sealed.
	ErrAccessDenied = errors.New("domain controller denied replication of the key")
	// ErrNoSuchAccount: the krbtgt_N account does not exist on that DC.
	ErrNoSuchAccount = errors.New("krbtgt account not found")
	// ErrBadReply: the DC's reply was malformed, failed its checksum, or did
	// not describe the requested object.
	ErrBadReply = errors.New("malformed replication reply")
	// ErrNoKeys: the account has no AES keys in its stored credentials.
	ErrNoKeys = errors.New("no AES keys stored for the account")
)
