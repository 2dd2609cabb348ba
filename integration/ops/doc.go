// Package ops holds the operations tests that run the real passkdc and
// passkinit binaries with real configuration files in standalone mode:
// profiles, attestation metadata, limits and lockout, metrics, log and Go
// runtime (garbage collector) settings, readiness, keytab reloads,
// certificate pinning. It has no code outside its tests.
package ops
