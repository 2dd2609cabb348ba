package assertion

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/go-webauthn/webauthn/protocol"
)

// readBody reads at most max bytes; a longer body is malformed.
func readBody(body io.Reader, max int64) ([]byte, error) {
	if body == nil {
		return nil, newErr(CodeMalformedRequest, "empty body", nil)
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, newErr(CodeMalformedRequest, "reading body", err)
	}
	if int64(len(b)) > max {
		return nil, newErr(CodeMalformedRequest, fmt.Sprintf("body larger than %d bytes", max), nil)
	}
	return b, nil
}

func parseCreation(b []byte) (*protocol.ParsedCredentialCreationData, error) {
	p, err := protocol.ParseCredentialCreationResponseBytes(b)
	if err != nil {
		return nil, newErr(CodeMalformedRequest, "not a WebAuthn registration response", err)
	}
	if len(p.Response.AttestationObject.AuthData.AttData.CredentialID) == 0 {
		return nil, newErr(CodeMalformedRequest, "registration response without attested credential", nil)
	}
	return p, nil
}

func parseAssertion(b []byte) (*protocol.ParsedCredentialAssertionData, error) {
	p, err := protocol.ParseCredentialRequestResponseBytes(b)
	if err != nil {
		return nil, newErr(CodeMalformedRequest, "not a WebAuthn assertion response", err)
	}
	if len(p.RawID) == 0 {
		return nil, newErr(CodeMalformedRequest, "assertion without credential id", nil)
	}
	return p, nil
}

// checkClientData runs the client-data steps of WebAuthn §7.1/§7.2 (type,
// challenge, origin) with our own code so that each failure gets its own
// stable code; go-webauthn repeats them afterwards.
func (r *RelyingParty) checkClientData(c protocol.CollectedClientData, ceremony protocol.CeremonyType, challenge string) error {
	if c.Type != ceremony {
		return newErr(CodeCeremonyMismatch, fmt.Sprintf("client data type %q, want %q", c.Type, ceremony), nil)
	}
	if subtle.ConstantTimeCompare([]byte(c.Challenge), []byte(challenge)) != 1 {
		return newErr(CodeChallengeMismatch, "the response answers another challenge than this session's", nil)
	}
	if !protocol.IsOriginInHaystack(c.Origin, r.cfg.Origins) {
		return newErr(CodeOriginMismatch, fmt.Sprintf("origin %q is not allowed", c.Origin), nil)
	}
	if c.CrossOrigin || c.TopOrigin != "" {
		return newErr(CodeOriginMismatch, "cross-origin ceremonies are not allowed", nil)
	}
	return nil
}

// checkAuthData runs the authenticator-data steps (RP ID hash, UP, UV).
func (r *RelyingParty) checkAuthData(a protocol.AuthenticatorData, rpID string, uvRequired bool) error {
	want := sha256.Sum256([]byte(rpID))
	if subtle.ConstantTimeCompare(a.RPIDHash, want[:]) != 1 {
		return newErr(CodeRPIDMismatch, fmt.Sprintf("authenticator data is not scoped to RP ID %q", rpID), nil)
	}
	if !a.Flags.UserPresent() {
		return newErr(CodeUPRequired, "user presence flag not set", nil)
	}
	if uvRequired && !a.Flags.UserVerified() {
		return newErr(CodeUVRequired, "user verification required but not performed", nil)
	}
	if !a.Flags.HasBackupEligible() && a.Flags.HasBackupState() {
		return newErr(CodeBackupFlagsInvalid, "backup state set without backup eligibility", nil)
	}
	return nil
}
