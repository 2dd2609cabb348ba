// Package mitkdc runs a throwaway MIT Kerberos KDC (krb5kdc from the Debian
// packages krb5-kdc and krb5-admin-server) for load comparisons: everything
// — kdc.conf, krb5.conf, the db2 database, its stash and the logs — lives in
// one directory, the KDC listens on 127.0.0.1 only (UDP and TCP on one free
// port), and it runs in its own process group so that Stop ends it and its
// worker processes.
//
// It also holds an AS-REQ client built for load: the user's long-term key is
// derived once (string2key is PBKDF2 with 4096 iterations and must not be in
// the hot loop; the KDC does not run it per request either), and each
// exchange is a single round trip with PA-ENC-TIMESTAMP, like an MIT client
// that has cached the etype and salt of its principal (the default salt
// REALM+name, aes256-cts-hmac-sha1-96); the AS-REP's enc-part is decrypted
// and checked (nonce, names) so the client verifies a real answer.
//
// Measure runs the reference side of issue 8: MIT AS-REQs per second at
// saturation, latency at half that load, the KDC's CPU time per AS-REQ, next
// to the cost of one bare ECDSA P-256 verification in Go.
package mitkdc
