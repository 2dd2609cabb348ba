package loadgen

import (
	"testing"
	"time"
)

func TestVerifyFloor(t *testing.T) {
	d := verifyFloor(2, 50*time.Millisecond)
	// A P-256 verification costs tens of microseconds on any machine that
	// runs this suite; 1 µs or 10 ms would mean the loop measured nothing
	// or something else.
	if d < time.Microsecond || d > 10*time.Millisecond {
		t.Fatalf("verify floor %v out of plausible range", d)
	}
	t.Logf("ecdsa.VerifyASN1 P-256: %v per verification", d)
}
