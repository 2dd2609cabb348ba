package assertion

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol"
)

// TestMalformedBodies: garbage is refused as malformed_request, before the
// session is touched (so the legitimate response still succeeds afterwards).
func TestMalformedBodies(t *testing.T) { forStores(t, runMalformedBodies) }

func runMalformedBodies(t *testing.T, mk storeFactory) {
	e := newEnvWith(t, mk, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)

	lsid, ao := e.beginLogin(nil)
	good := e.assertBody(e.vrp, auth, cred, 1, ao)
	setResp := func(field, val string) func(map[string]any) {
		return func(m map[string]any) { m["response"].(map[string]any)[field] = val }
	}
	cbor := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	loginCases := map[string]string{
		"empty":                 "",
		"not JSON":              "{not json",
		"JSON array":            "[1,2,3]",
		"trailing data":         good + "{}",
		"oversize":              strings.Repeat(" ", DefaultMaxBodyBytes+1),
		"id not base64":         mutateAssertion(t, good, func(m map[string]any) { m["id"] = "!!!" }),
		"rawId not base64":      mutateAssertion(t, good, func(m map[string]any) { m["rawId"] = "%%%" }),
		"id differs from rawId": mutateAssertion(t, good, func(m map[string]any) { m["id"] = "AAAA" }),
		"wrong type":            mutateAssertion(t, good, func(m map[string]any) { m["type"] = "password" }),
		"clientData not JSON":   mutateAssertion(t, good, setResp("clientDataJSON", cbor([]byte("{{{")))),
		"clientData bad base64": mutateAssertion(t, good, setResp("clientDataJSON", "***")),
		"authData truncated":    mutateAssertion(t, good, setResp("authenticatorData", cbor(make([]byte, 20)))),
		"signature bad base64":  mutateAssertion(t, good, setResp("signature", "@@")),
		"response missing":      mutateAssertion(t, good, func(m map[string]any) { delete(m, "response") }),
	}
	before := e.snapshot()
	for name, body := range loginCases {
		t.Run("login "+name, func(t *testing.T) {
			_, err := e.rp.FinishLogin(e.ctx, lsid, strings.NewReader(body))
			e.refused(err, CodeMalformedRequest, before)
		})
	}
	if _, err := e.rp.FinishLogin(e.ctx, lsid, nil); Code(err) != CodeMalformedRequest {
		t.Errorf("nil body: %v", err)
	}
	if _, err := e.rp.FinishLogin(e.ctx, lsid, strings.NewReader(good)); err != nil {
		t.Fatalf("session was spent by malformed bodies: %v", err)
	}

	rsid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	c2 := newCred()
	goodReg := e.attest(e.vrp, auth, c2, opts)
	regCases := map[string]string{
		"not JSON":             "nope",
		"attestation not CBOR": mutateAssertion(t, goodReg, setResp("attestationObject", cbor([]byte{0xff, 0x00, 0x13}))),
		"attestation CBOR truncated": mutateAssertion(t, goodReg, func(m map[string]any) {
			r := m["response"].(map[string]any)
			raw, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
			r["attestationObject"] = cbor(raw[:len(raw)/2])
		}),
		"attestation bad base64": mutateAssertion(t, goodReg, setResp("attestationObject", "~~~")),
		"attestation CBOR int":   mutateAssertion(t, goodReg, setResp("attestationObject", cbor([]byte{0x01}))),
		"clientData not JSON":    mutateAssertion(t, goodReg, setResp("clientDataJSON", cbor([]byte("[")))),
		"id not base64":          mutateAssertion(t, goodReg, func(m map[string]any) { m["id"] = "!" }),
	}
	before = e.snapshot()
	for name, body := range regCases {
		t.Run("register "+name, func(t *testing.T) {
			_, err := e.rp.FinishRegistration(e.ctx, rsid, strings.NewReader(body))
			e.refused(err, CodeMalformedRequest, before)
		})
	}
	if _, err := e.rp.FinishRegistration(e.ctx, rsid, strings.NewReader(goodReg)); err != nil {
		t.Fatalf("registration session was spent by malformed bodies: %v", err)
	}
}

// TestClassifyProtocol covers the fallback mapping of go-webauthn errors.
func TestClassifyProtocol(t *testing.T) {
	cases := []struct {
		err  error
		code string
	}{
		{protocol.ErrAssertionSignature.WithDetails("x"), CodeBadSignature},
		{protocol.ErrVerification.WithDetails("Error validating challenge"), CodeChallengeMismatch},
		{protocol.ErrVerification.WithDetails("Error validating origin"), CodeOriginMismatch},
		{protocol.ErrVerification.WithDetails("Error validating ceremony type"), CodeCeremonyMismatch},
		{protocol.ErrVerification.WithInfo("User verification required but flag not set by authenticator"), CodeUVRequired},
		{protocol.ErrVerification.WithInfo("User presence required but flag not set by authenticator"), CodeUPRequired},
		{protocol.ErrMetadata.WithInfo("status"), CodeAttestationRefused},
		{protocol.ErrInvalidAttestation.WithDetails("bad"), CodeAttestationRefused},
		{protocol.ErrPolicyRestriction.WithInfo("AAGUID"), CodeProfileRefused},
		{&protocol.ErrorUnknownCredential{Err: protocol.ErrBadRequest}, CodeUnknownCredential},
		{protocol.ErrBadRequest.WithDetails("something else"), CodeVerificationFailed},
		{errors.New("plain"), CodeVerificationFailed},
	}
	for _, c := range cases {
		if got := classifyProtocol(c.err, CodeVerificationFailed); got.Code != c.code || !errors.Is(got, c.err) {
			t.Errorf("%v: %s, want %s", c.err, got.Code, c.code)
		}
	}
}

func TestReadBodyLimit(t *testing.T) {
	if _, err := readBody(bytes.NewReader(make([]byte, 10)), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := readBody(bytes.NewReader(make([]byte, 11)), 10); Code(err) != CodeMalformedRequest {
		t.Fatalf("11 bytes: %v", err)
	}
}
