package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's usage.
const rusageThread = 1

// threadCPU returns the user+system CPU time of the calling OS thread.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// Bounds of the VerifyFloor calibration.
const (
	floorRounds    = 3
	floorRoundTime = 200 * time.Millisecond
	floorMaxIters  = 1 << 22
)

// VerifyFloor returns the cost of one bare ecdsa.VerifyASN1 with a P-256 key
// on one core: the cryptographic floor of a passkey sign-in (WebAuthn ES256),
// without hashing, parsing or anything else. It runs a calibrated loop for
// about 0.7 s and reports the best of three rounds. The loop is timed in the
// CPU time of its own OS thread (getrusage RUSAGE_THREAD), the same kind of
// figure as a server's CPU per request from its rusage, so that time spent
// preempted by other processes on a busy machine does not count; wall time
// is the fallback where that clock is not available. It returns 0 if the
// measurement could not be made (no key, or a signature that does not verify).
func VerifyFloor() time.Duration {
	return verifyFloor(floorRounds, floorRoundTime)
}

func verifyFloor(rounds int, roundTime time.Duration) time.Duration {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0
	}
	digest := sha256.Sum256([]byte("passkdc verification floor"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil || !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
		return 0
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	verify := func(n int) (time.Duration, bool) {
		c0, cpuOK := threadCPU()
		t0 := time.Now()
		ok := true
		for range n {
			ok = ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) && ok
		}
		wall := time.Since(t0)
		if c1, ok1 := threadCPU(); cpuOK && ok1 && c1 > c0 {
			return c1 - c0, ok
		}
		return wall, ok
	}
	// Calibrate: double n until one batch takes at least a tenth of a round.
	n := 1
	for n < floorMaxIters {
		d, ok := verify(n)
		if !ok {
			return 0
		}
		if d >= roundTime/10 {
			n = int(min(int64(n)*int64(roundTime)/max(int64(d), 1), floorMaxIters))
			break
		}
		n *= 2
	}
	n = max(n, 1)
	var best time.Duration
	for r := range rounds {
		d, ok := verify(n)
		if !ok {
			return 0
		}
		if per := d / time.Duration(n); r == 0 || per < best {
			best = per
		}
	}
	return best
}
