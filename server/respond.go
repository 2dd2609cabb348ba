package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/kdc/issuer"
)

// maxBody caps every request body; WebAuthn responses are a few kilobytes.
const maxBody = 64 << 10

// apiError is the JSON error body: a stable code for programs, text for people.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	// undo, when set, says that the writes refusing with this error left
	// their transaction half-written: it is rolled back and undo's writes
	// (e.g. consuming the session) are committed with the refusal's record
	// instead.
	undo writesFunc
}

// undoing returns a copy of e whose transaction is rolled back and replaced by then.
func (e *apiError) undoing(then writesFunc) *apiError {
	c := *e
	c.undo = then
	return &c
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// newError is the error with code (its HTTP status from the registry) and a
// message for the client.
func newError(code, format string, args ...any) *apiError {
	return newErrorStatus(statusOf(code), code, format, args...)
}

// newErrorStatus is newError with another status than the code's usual one
// (an unknown passkey of the page is 404, a body of another type 415).
func newErrorStatus(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// jsonContentType is every JSON answer's Content-Type value, shared (never
// written in place: Header.Set, Add and Del replace, copy or drop values).
var jsonContentType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if v := h["Cache-Control"]; len(v) != 1 || v[0] != "no-store" { // Handler set it already
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, userFacing(e))
}

// plainMessages are what a user is told for refusals whose message names
// internals (policy groups, directory errors, key files): the detail stays
// in the audit record and the log line, which are written from the
// original error before it is answered.
var plainMessages = map[string]string{
	issuer.CodeReplicationPolicy: "Your account may not get Kerberos tickets from passkdc: your organisation's ticket policy does not include it. Ask your administrator if you need them.",
	issuer.CodeDirectory:         "passkdc cannot check your account with the directory right now. Try again in a few minutes.",
	issuer.CodeKeyUnavailable:    "passkdc cannot issue tickets right now. Tell your administrator.",
	assertion.CodeInternal:       "Something went wrong inside passkdc. Try again; if it keeps happening, tell your administrator.",
}

// userFacing is e with the plain sentence for its code, if it has one.
func userFacing(e *apiError) *apiError {
	m, ok := plainMessages[e.Code]
	if !ok {
		return e
	}
	c := *e
	c.Message = m
	return &c
}

// decodeBody reads one JSON object of at most maxBody bytes, refusing unknown
// fields and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" && !isJSONType(ct) {
		return newErrorStatus(http.StatusUnsupportedMediaType, assertion.CodeMalformedRequest, "content type must be application/json")
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(CodeRequestTooLarge, "request body is larger than %d bytes", tooBig.Limit)
		}
		return newError(assertion.CodeMalformedRequest, "request body is not valid JSON for this endpoint: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newError(assertion.CodeMalformedRequest, "request body has data after the JSON object")
	}
	return nil
}

func isJSONType(ct string) bool {
	return len(ct) >= 16 && ct[:16] == "application/json"
}
