package assertion

import (
	"errors"

	"github.com/go-webauthn/webauthn/protocol"
)

// Stable error codes. Callers branch on them, put them in audit records
// (store.AuditRecord.Reason) and return them to clients; they never change.
const (
	CodeMalformedRequest     = "malformed_request"      // body is not a WebAuthn response (JSON, base64url, CBOR)
	CodeInvalidBindingKey    = "invalid_binding_key"    // binding key is not a usable X25519 public key
	CodeInvalidPrincipal     = "invalid_principal"      // principal has no usable anchor
	CodeUnknownSession       = "unknown_session"        // no such session, or already used
	CodeSessionExpired       = "session_expired"        // the session existed but is past its expiry
	CodeCeremonyMismatch     = "ceremony_type_mismatch" // clientData.type is not webauthn.create / webauthn.get
	CodeChallengeMismatch    = "challenge_mismatch"     // challenge is not the one issued for this session
	CodeOriginMismatch       = "origin_mismatch"        // origin not configured, or cross-origin use
	CodeRPIDMismatch         = "rp_id_mismatch"         // authenticator data is scoped to another RP ID
	CodeUPRequired           = "up_required"            // user presence flag missing
	CodeUVRequired           = "uv_required"            // user verification required but not performed
	CodeBadSignature         = "bad_signature"          // assertion signature does not verify
	CodeVerificationFailed   = "verification_failed"    // any other WebAuthn verification failure
	CodeBackupFlagsInvalid   = "backup_flags_invalid"   // backup-eligible flag changed or BS without BE
	CodeCounterRegression    = "counter_regression"     // sign counter did not increase: possible cloned authenticator
	CodeCounterConflict      = "counter_conflict"       // concurrent use of the credential (replay or race)
	CodeUnknownCredential    = "unknown_credential"     // credential ID not registered
	CodeCredentialRevoked    = "credential_revoked"     // credential was revoked
	CodeCredentialExists     = "credential_exists"      // registration of an already registered credential ID
	CodeUserHandleMismatch   = "user_handle_mismatch"   // user handle missing or not the credential's principal
	CodePrincipalMismatch    = "principal_mismatch"     // credential belongs to another principal than the hinted one
	CodePrincipalDisabled    = "principal_disabled"     // account disabled in the directory
	CodePrincipalDeleted     = "principal_deleted"      // account gone from the directory (or from the store)
	CodePrincipalExpired     = "principal_expired"      // account expiry passed
	CodeProfileRefused       = "profile_refused"        // passkey profile rule (AAGUID, synced) refused it
	CodeAttestationRefused   = "attestation_refused"    // attestation required by the profile is missing or untrusted
	CodeInvalidConfiguration = "invalid_configuration"  // relying party or profile misconfigured
	CodeDirectoryUnavailable = "directory_unavailable"  // the live check could not read the directory (and the mirror is too old)
	CodeInternal             = "internal_error"         // store or other server-side failure
)

// Error is the only error type this package returns. Code is one of the Code*
// constants; Message is human text safe to show to the client (it never
// carries key material); Err is the underlying cause, if any.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &assertion.Error{Code: assertion.CodeUVRequired}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && t.Err == nil
}

// Code returns the stable code of err, or "" when err is nil, or
// CodeInternal when err is not an *Error.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func newErr(code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// classifyProtocol maps an error returned by go-webauthn to a code. The
// checks of verify.go run first and catch the common failures with our own
// logic; this mapping is the fallback for what remains.
func classifyProtocol(err error, fallback string) *Error {
	var pe *protocol.Error
	var unk *protocol.ErrorUnknownCredential
	switch {
	case errors.As(err, &unk):
		return newErr(CodeUnknownCredential, "credential is not registered to this user", err)
	case errors.As(err, &pe):
		return classifyProtocolError(pe, err, fallback)
	default:
		return newErr(fallback, "verification failed", err)
	}
}

func classifyProtocolError(pe *protocol.Error, err error, fallback string) *Error {
	switch pe.Type {
	case protocol.ErrAssertionSignature.Type:
		return newErr(CodeBadSignature, "signature does not verify", err)
	case protocol.ErrChallengeMismatch.Type:
		return newErr(CodeChallengeMismatch, "challenge mismatch", err)
	case protocol.ErrAttestation.Type, protocol.ErrInvalidAttestation.Type,
		protocol.ErrAttestationCertificate.Type, protocol.ErrMetadata.Type:
		return newErr(CodeAttestationRefused, "attestation statement refused: "+detail(pe), err)
	case protocol.ErrPolicyRestriction.Type:
		return newErr(CodeProfileRefused, detail(pe), err)
	}
	switch pe.Details {
	case "Error validating challenge":
		return newErr(CodeChallengeMismatch, "challenge mismatch", err)
	case "Error validating origin", "Error validating cross origin flag",
		"Error validating topOrigin", "Error validating top origin":
		return newErr(CodeOriginMismatch, pe.Details, err)
	case "Error validating ceremony type":
		return newErr(CodeCeremonyMismatch, pe.Details, err)
	}
	switch pe.DevInfo {
	case "User verification required but flag not set by authenticator":
		return newErr(CodeUVRequired, "user verification required", err)
	case "User presence required but flag not set by authenticator":
		return newErr(CodeUPRequired, "user presence required", err)
	}
	return newErr(fallback, detail(pe), err)
}

func detail(pe *protocol.Error) string {
	if pe.Details != "" {
		return pe.Details
	}
	return pe.DevInfo
}
