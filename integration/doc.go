// Package integration holds passkdc's end-to-end tests against real
// components: a Samba AD DC (integration/samba), OpenLDAP (integration/slapd),
// MIT Kerberos tools, MIT krb5kdc for reference figures (integration/mitkdc),
// and the demo (integration/demo).
//
// The tests of this package share one throwaway domain on 127.0.0.12 and build
// the passkdc and passkinit binaries once, so they exercise what users run.
package integration
