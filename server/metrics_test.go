package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/server"
)

func TestMetricsCountSignInsByResultAndLatency(t *testing.T) {
	h := newHostile(t, server.Limits{})
	k := h.register("alice")
	h.login(k)
	o := h.beginLogin("")
	if a := h.post("/v1/login/finish", finish(o.Session, k.assert(o.PublicKey.Challenge, bend{badSig: true}))); a.status != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", a.status)
	}
	a := h.send(http.MethodGet, "/metrics", "", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("metrics: %d", a.status)
	}
	text := string(a.body)
	for _, want := range []string{
		`passkdc_signins_total{reason="",result="ok"} 1`,
		`passkdc_signins_total{reason="bad_signature",result="refused"} 1`,
		`passkdc_http_request_duration_seconds_count{code="200",route="POST /v1/login/finish"} 1`,
		`passkdc_http_request_duration_seconds_count{code="401",route="POST /v1/login/finish"} 1`,
		`passkdc_sync_age_seconds -1`,
		`passkdc_rodc_key_versions`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
