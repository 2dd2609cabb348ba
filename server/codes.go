package server

import (
	"net/http"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
)

// The server's own stable API error codes. With the ceremony codes of
// package assertion and the issuance codes of kdc/issuer, they are
// the codes of the registry below: every error the API answers carries one.
const (
	CodeTAPRequired     = "tap_required"      // no temporary access pass sent
	CodeTAPInvalid      = "tap_invalid"       // no such pass
	CodeTAPUsed         = "tap_used"          // the pass has no uses left
	CodeTAPExpired      = "tap_expired"       // the pass has expired
	CodeTAPOtherAccount = "tap_other_account" // the pass is another account's than the one named
	CodeWrongRealm      = "wrong_realm"       // a principal of another realm
	// CodeStoreUnavailable: the store could not be read or written; nothing was decided.
	CodeStoreUnavailable = "store_unavailable"
	// CodeAuditUnavailable: the decision and its audit record could not be stored; nothing was issued.
	CodeAuditUnavailable = "audit_unavailable"
	// CodeOutcomeUnknown: the store lost the connection while committing and
	// could not be asked afterwards whether the commit happened.
	CodeOutcomeUnknown     = "outcome_unknown"
	CodeRequestTimeout     = "request_timeout"       // the request took longer than limits.request_timeout
	CodeCrossOrigin        = "cross_origin"          // a state change from another site or origin
	CodeCSRFInvalid        = "csrf_token_invalid"    // missing or wrong X-CSRF-Token
	CodePageSession        = "page_session_required" // no (valid) page session cookie
	CodeInvalidName        = "invalid_name"          // a passkey label too long or with control characters
	CodeConfirmation       = "confirmation_required" // removing the passkey signed in with needs {"confirm": true}
	CodeInvalidRedirectURI = "invalid_redirect_uri"  // passkinit's callback is not a loopback http URL
	CodeInvalidState       = "invalid_state"         // the browser sign-in's state is missing or malformed
	CodeBindingMismatch    = "binding_mismatch"      // a code or sign-in of another client
	CodeInvalidSignin      = "invalid_signin"        // no such browser sign-in, or already used
	CodeSigninExpired      = "signin_expired"        // the browser sign-in has expired
	CodeInvalidCode        = "invalid_code"          // no such one-time code, or already used
	CodeCodeExpired        = "code_expired"          // the one-time code has expired
	CodeRealmNotServed     = "realm_not_served"      // KDC proxy: a realm passkdc does not relay
	CodeKDCUnreachable     = "kdc_unreachable"       // KDC proxy: no KDC answered
	CodeKDCReply           = "kdc_reply"             // KDC proxy: the KDC's answer is not Kerberos
	// The helpdesk page.
	CodeHelpdeskOnly       = "helpdesk_member_required"  // the signed-in user is not in a helpdesk group
	CodeHelpdeskPasskey    = "helpdesk_passkey_required" // the page session was opened with a pass, not a passkey
	CodeSubjectProtected   = "subject_never_reveal"      // the user is in a never-reveal group
	CodeSubjectHelpdesk    = "subject_helpdesk_member"   // the user is another helpdesk member
	CodeUnknownPrincipal   = "unknown_principal"         // no such user in the mirror
	CodeUnknownPass        = "unknown_pass"              // no such open pass
	CodeInvalidPassOptions = "invalid_pass_options"      // uses or lifetime of a pass out of bounds
	// CodeMalformedRequest: the body is not what the endpoint takes.
	CodeMalformedRequest = assertion.CodeMalformedRequest
)

// Codes of Kerberos enrolment refusals.
const (
	CodeKerberosUnavailable = "kerberos_unavailable"    // Negotiate sent but no kerberos section is configured
	CodeKerberosInvalid     = "kerberos_invalid"        // not a Kerberos AP-REQ, or it does not verify under the service key
	CodeKerberosWrongSPN    = "kerberos_wrong_service"  // a ticket for another service principal or realm
	CodeKerberosWeakEType   = "kerberos_weak_enctype"   // ticket or session key not AES
	CodeKerberosNoPAC       = "kerberos_no_pac"         // the ticket carries no PAC
	CodeKerberosUnknownUser = "kerberos_unknown_user"   // the ticket's client is not a synced principal
	CodeKerberosSIDMismatch = "kerberos_sid_mismatch"   // the PAC's user SID is not the mirrored principal's
	CodeKerberosNotAllowed  = "kerberos_not_allowed"    // no profile of the user lists kerberos in enrol_with
	CodeKerberosStale       = "kerberos_ticket_stale"   // authtime older than kerberos_max_age
	CodeKerberosHasPasskey  = "kerberos_passkey_exists" // the user has a passkey: use it or a pass to add another
)

// registry is every code the API answers, with its HTTP status: the one
// place where a code meets HTTP (assertion and kdc/issuer know none).
var registry = map[string]int{
	// Requests.
	assertion.CodeMalformedRequest: http.StatusBadRequest, assertion.CodeInvalidBindingKey: http.StatusBadRequest,
	assertion.CodeInvalidPrincipal: http.StatusBadRequest, CodeWrongRealm: http.StatusBadRequest,
	CodeRequestTooLarge: http.StatusRequestEntityTooLarge, CodeRequestTimeout: http.StatusRequestTimeout,
	CodeRateLimited: http.StatusTooManyRequests, CodeTooManySessions: http.StatusTooManyRequests,
	// Ceremonies.
	assertion.CodeUnknownSession: http.StatusUnauthorized, assertion.CodeSessionExpired: http.StatusUnauthorized,
	assertion.CodeCeremonyMismatch: http.StatusUnauthorized, assertion.CodeChallengeMismatch: http.StatusUnauthorized,
	assertion.CodeOriginMismatch: http.StatusUnauthorized, assertion.CodeRPIDMismatch: http.StatusUnauthorized,
	assertion.CodeUPRequired: http.StatusUnauthorized, assertion.CodeUVRequired: http.StatusUnauthorized,
	assertion.CodeBadSignature: http.StatusUnauthorized, assertion.CodeVerificationFailed: http.StatusUnauthorized,
	assertion.CodeBackupFlagsInvalid: http.StatusUnauthorized, assertion.CodeCounterRegression: http.StatusUnauthorized,
	assertion.CodeUnknownCredential: http.StatusUnauthorized, assertion.CodeCredentialRevoked: http.StatusUnauthorized,
	assertion.CodeUserHandleMismatch: http.StatusUnauthorized, assertion.CodePrincipalMismatch: http.StatusUnauthorized,
	assertion.CodeCounterConflict: http.StatusConflict, assertion.CodeCredentialExists: http.StatusConflict,
	// Accounts and rules.
	assertion.CodePrincipalDisabled: http.StatusForbidden, assertion.CodePrincipalDeleted: http.StatusForbidden,
	assertion.CodePrincipalExpired: http.StatusForbidden, assertion.CodeProfileRefused: http.StatusForbidden,
	assertion.CodeAttestationRefused: http.StatusForbidden, issuer.CodeReplicationPolicy: http.StatusForbidden,
	issuer.CodeNoSID: http.StatusForbidden,
	// Passes, pages, browser sign-in.
	CodeTAPRequired: http.StatusUnauthorized, CodeTAPInvalid: http.StatusUnauthorized, CodeTAPUsed: http.StatusUnauthorized,
	CodeTAPExpired: http.StatusUnauthorized, CodeTAPOtherAccount: http.StatusForbidden,
	CodePageSession: http.StatusUnauthorized, CodeCrossOrigin: http.StatusForbidden, CodeCSRFInvalid: http.StatusForbidden,
	CodeInvalidName: http.StatusBadRequest, CodeConfirmation: http.StatusConflict,
	CodeInvalidRedirectURI: http.StatusBadRequest, CodeInvalidState: http.StatusBadRequest,
	CodeBindingMismatch: http.StatusForbidden, CodeInvalidSignin: http.StatusUnauthorized,
	CodeSigninExpired: http.StatusUnauthorized, CodeInvalidCode: http.StatusUnauthorized, CodeCodeExpired: http.StatusUnauthorized,
	// Helpdesk.
	CodeHelpdeskOnly: http.StatusForbidden, CodeHelpdeskPasskey: http.StatusForbidden,
	CodeSubjectProtected: http.StatusForbidden, CodeSubjectHelpdesk: http.StatusForbidden,
	CodeUnknownPrincipal: http.StatusNotFound, CodeUnknownPass: http.StatusNotFound, CodeInvalidPassOptions: http.StatusBadRequest,
	// Kerberos enrolment.
	CodeKerberosUnavailable: http.StatusUnauthorized, CodeKerberosInvalid: http.StatusUnauthorized,
	CodeKerberosWrongSPN: http.StatusUnauthorized, CodeKerberosWeakEType: http.StatusUnauthorized,
	CodeKerberosNoPAC: http.StatusForbidden, CodeKerberosUnknownUser: http.StatusForbidden,
	CodeKerberosSIDMismatch: http.StatusForbidden, CodeKerberosNotAllowed: http.StatusForbidden,
	CodeKerberosStale: http.StatusUnauthorized, CodeKerberosHasPasskey: http.StatusForbidden,
	// KDC proxy.
	CodeRealmNotServed: http.StatusBadRequest, CodeKDCUnreachable: http.StatusServiceUnavailable, CodeKDCReply: http.StatusBadGateway,
	// The server's own state.
	assertion.CodeDirectoryUnavailable: http.StatusServiceUnavailable, // = issuer.CodeDirectory
	CodeStoreUnavailable:               http.StatusServiceUnavailable, CodeAuditUnavailable: http.StatusServiceUnavailable,
	CodeOutcomeUnknown: http.StatusServiceUnavailable, issuer.CodeKeyUnavailable: http.StatusInternalServerError,
	assertion.CodeInvalidConfiguration: http.StatusInternalServerError, assertion.CodeInternal: http.StatusInternalServerError,
}

// statusOf is the HTTP status of code; an unregistered code (a defect the
// registry test catches) answers 500.
func statusOf(code string) int {
	if s, ok := registry[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Codes lists every API error code with its HTTP status (the registry), for
// documentation and for clients that branch on codes.
func Codes() map[string]int {
	out := make(map[string]int, len(registry))
	for c, s := range registry {
		out[c] = s
	}
	return out
}
