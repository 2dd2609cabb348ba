// Package krbname is the one implementation of a user's principal name as
// people type it: NAME or NAME@REALM. The realm starts after the last '@'
// not escaped with '\' (RFC 1964 section 2.1.1 display form), so a name may
// hold an escaped '@'. It owns only this parsing and comparison; it knows
// nothing of the store, the directory or Kerberos messages.
package krbname

import (
	"fmt"
	"strings"
)

// Split returns the name and the realm of s; defaultRealm when s has none.
func Split(s, defaultRealm string) (name, realm string) {
	if i := realmAt(s); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, defaultRealm
}

// InRealm returns the name of s when s has no realm or realm (compared
// case-insensitively, as realms are); an error naming both otherwise.
func InRealm(s, realm string) (string, error) {
	name, r := Split(s, realm)
	if !strings.EqualFold(r, realm) {
		return "", fmt.Errorf("%s is not in realm %s", s, realm)
	}
	return name, nil
}

// Same reports whether typed (realm optional) names the principal full
// (NAME@REALM): names and realms compared case-insensitively, as AD does.
func Same(typed, full string) bool {
	name, realm := Split(full, "")
	tn, tr := Split(typed, realm)
	return strings.EqualFold(tn, name) && strings.EqualFold(tr, realm)
}

// realmAt is the index of the '@' before the realm, -1 when there is none.
func realmAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != '@' {
			continue
		}
		backslashes := 0
		for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i
		}
	}
	return -1
}
