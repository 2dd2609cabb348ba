package assertion

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// allCodes is every stable code; a fuzzed body must only ever produce these.
func allCodes() map[string]bool {
	m := map[string]bool{}
	for _, c := range []string{CodeMalformedRequest, CodeInvalidBindingKey, CodeInvalidPrincipal, CodeUnknownSession,
		CodeSessionExpired, CodeCeremonyMismatch, CodeChallengeMismatch, CodeOriginMismatch, CodeRPIDMismatch,
		CodeUPRequired, CodeUVRequired, CodeBadSignature, CodeVerificationFailed, CodeBackupFlagsInvalid,
		CodeCounterRegression, CodeCounterConflict, CodeUnknownCredential, CodeCredentialRevoked, CodeCredentialExists,
		CodeUserHandleMismatch, CodePrincipalMismatch, CodePrincipalDisabled, CodePrincipalDeleted, CodePrincipalExpired,
		CodeProfileRefused, CodeAttestationRefused, CodeInvalidConfiguration, CodeInternal} {
		m[c] = true
	}
	return m
}

// fuzzSeeds registers a credential and returns valid login and registration
// bodies (for sessions other than the fuzzed ones).
func fuzzSeeds(f *testing.F) (*env, [][]byte, [][]byte) {
	e := newEnv(f, nil)
	auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
	cred := e.mustRegister(e.alice, auth)
	_, ao := e.beginLogin(nil)
	login := [][]byte{[]byte(e.assertBody(e.vrp, auth, cred, 1, ao))}
	_, ao = e.beginLogin(&e.alice)
	login = append(login, []byte(e.assertBody(e.vrp, auth, cred, 2, ao)))
	_, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
	if err != nil {
		f.Fatal(err)
	}
	reg := [][]byte{[]byte(e.attest(e.vrp, auth, newCred(), opts))}
	_, opts, _ = e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
	reg = append(reg, []byte(e.attest(e.vrp, auth, virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeRSA), opts)))
	return e, login, reg
}

// checkFuzzErr: no panic (implicit), a typed error with a known code, and
// nothing written.
func checkFuzzErr(t *testing.T, e *env, err error, before []any) {
	var x *Error
	if err == nil {
		t.Fatal("fuzzed body accepted")
	}
	if !errors.As(err, &x) || !allCodes()[x.Code] || x.Code == CodeInternal {
		t.Fatalf("unexpected error %T %v", err, err)
	}
	if after := snapshotOf(t, e.st); !reflect.DeepEqual(before[0], after) {
		t.Fatalf("credentials changed on %s", x.Code)
	}
}

func FuzzFinishLogin(f *testing.F) {
	e, login, reg := fuzzSeeds(f)
	for _, s := range append(login, reg...) {
		f.Add(s)
	}
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	before := []any{e.snapshot()}
	f.Fuzz(func(t *testing.T, body []byte) {
		sid, _, err := e.rp.BeginLogin(e.ctx, nil, testBindingKey)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rp.FinishLogin(e.ctx, sid, bytes.NewReader(body))
		checkFuzzErr(t, e, err, before)
	})
}

func FuzzFinishRegistration(f *testing.F) {
	e, login, reg := fuzzSeeds(f)
	for _, s := range append(reg, login...) {
		f.Add(s)
	}
	before := []any{e.snapshot()}
	f.Fuzz(func(t *testing.T, body []byte) {
		sid, _, err := e.rp.BeginRegistration(e.ctx, e.alice, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rp.FinishRegistration(e.ctx, sid, bytes.NewReader(body))
		checkFuzzErr(t, e, err, before)
	})
}
