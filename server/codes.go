package server

// Stable API error codes of the server's own decisions (the ceremony codes
// are assertion's, the limits' are in limits.go).
const (
	// CodeTAPOtherAccount: the pass was issued for another account than the
	// one the caller named at register/begin.
	CodeTAPOtherAccount = "tap_other_account"
	// CodeStoreUnavailable: the store could not be read or written; nothing
	// was decided.
	CodeStoreUnavailable = "store_unavailable"
	// CodeAuditUnavailable: the decision and its audit record could not be
	// stored; nothing was issued or registered.
	CodeAuditUnavailable = "audit_unavailable"
	// CodeOutcomeUnknown: the store lost the connection while committing
	// and could not be asked afterwards whether the commit happened.
	CodeOutcomeUnknown = "outcome_unknown"
)
