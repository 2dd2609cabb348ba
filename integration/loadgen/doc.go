// Package loadgen drives load against a service and reports what it saw: a
// closed-loop generator (Saturate: a fixed number of workers issue requests
// back to back, giving throughput at saturation) and an open-loop generator
// (FixedRate: arrivals on a fixed schedule, latency measured from each
// arrival's intended start so that a slow server cannot hide its queueing —
// no coordinated omission).
//
// It also reads the CPU time and peak resident set of another process from
// /proc (ProcCPU, TreeCPU, PeakRSS), and measures the cost of one bare ECDSA
// P-256 verification in Go (VerifyFloor), the cryptographic floor of a passkey
// sign-in.
//
// Every loop here is bounded both in iterations and in time.
package loadgen
