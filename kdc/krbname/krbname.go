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

// Unparse writes a principal in MIT's display form (krb5_unparse_name):
// components joined by '/', then '@' and the realm; '/', '@' and '\' in a
// component and '@' and '\' in the realm are escaped with '\', and NUL, tab,
// newline and backspace are written \0, \t, \n and \b.
func Unparse(components []string, realm string) string {
	var b strings.Builder
	for i, c := range components {
		if i > 0 {
			b.WriteByte('/')
		}
		writeEscaped(&b, c, "/@\\")
	}
	b.WriteByte('@')
	writeEscaped(&b, realm, "@\\")
	return b.String()
}

func writeEscaped(b *strings.Builder, s, special string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			b.WriteString(`\0`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\b':
			b.WriteString(`\b`)
		case strings.IndexByte(special, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}

// Parse reads MIT's display form back (krb5_parse_name's rules): a '\'
// escapes the next byte (\n, \t, \b and \0 stand for control characters),
// '/' separates components, the first unescaped '@' starts the realm, in
// which '/' is literal. hasRealm is false when s has no '@'.
func Parse(s string) (components []string, realm string, hasRealm bool, err error) {
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) {
				return nil, "", false, fmt.Errorf("%q ends with a backslash", s)
			}
			cur.WriteByte(unescape(s[i]))
		case c == '/' && !hasRealm:
			components = append(components, cur.String())
			cur.Reset()
		case c == '@' && hasRealm:
			return nil, "", false, fmt.Errorf("%q has a second '@'", s)
		case c == '@':
			components = append(components, cur.String())
			cur.Reset()
			hasRealm = true
		default:
			cur.WriteByte(c)
		}
	}
	if !hasRealm {
		return append(components, cur.String()), "", false, nil
	}
	return components, cur.String(), true, nil
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case '0':
		return 0
	}
	return c
}
