package ldapsync

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// maxRangeRounds bounds the follow-up reads of one attribute (each brings
// MaxValRange values, 1,500 by default on AD: 10,000 rounds is 15 million).
const maxRangeRounds = 10000

// completeRanges replaces every ranged attribute of e (AD's answer for an
// attribute with more values than MaxValRange, e.g. "member;range=0-1499"
// instead of "member", MS-ADTS 3.1.1.3.1.3.3) by the attribute with all its
// values, reading the rest with base searches for "member;range=1500-*" and
// so on until the server answers a range ending in "*".
func completeRanges(ctx context.Context, c SearchConn, e *ldap.Entry) error {
	for i, a := range e.Attributes {
		name, lo, hi, ok := parseRange(a.Name)
		if !ok {
			continue
		}
		if lo != 0 {
			return fmt.Errorf("ldapsync: %s: attribute %s starts at %d, not 0", e.DN, a.Name, lo)
		}
		vals := append([]string(nil), a.Values...)
		for round := 0; hi >= 0; round++ {
			if round == maxRangeRounds {
				return fmt.Errorf("ldapsync: %s: attribute %s: more than %d ranges", e.DN, name, maxRangeRounds)
			}
			next, err := readRange(ctx, c, e.DN, name, hi+1)
			if err != nil {
				return err
			}
			if next.lo != hi+1 {
				return fmt.Errorf("ldapsync: %s: attribute %s: asked for values from %d, got from %d", e.DN, name, hi+1, next.lo)
			}
			vals = append(vals, next.values...)
			hi = next.hi
		}
		e.Attributes[i] = &ldap.EntryAttribute{Name: name, Values: vals, ByteValues: byteValues(vals)}
	}
	return nil
}

// valueRange is one answer of a ranged read; hi is -1 for the last ("*").
type valueRange struct {
	lo, hi int
	values []string
}

// readRange reads attr's values from lo on (attr;range=lo-*) on dn.
func readRange(ctx context.Context, c SearchConn, dn, attr string, lo int) (valueRange, error) {
	want := fmt.Sprintf("%s;range=%d-*", attr, lo)
	e, err := searchOneRaw(ctx, c, ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{want}, nil))
	if err != nil {
		return valueRange{}, err
	}
	for _, a := range e.Attributes {
		name, from, to, ok := parseRange(a.Name)
		if ok && strings.EqualFold(name, attr) {
			return valueRange{lo: from, hi: to, values: a.Values}, nil
		}
	}
	// A server that gave every remaining value under the plain name.
	return valueRange{lo: lo, hi: -1, values: nil}, nil
}

// parseRange splits "member;range=0-1499" into member, 0, 1499 and
// "member;range=1500-*" into member, 1500, -1; ok is false for a name
// without a range option.
func parseRange(attr string) (name string, lo, hi int, ok bool) {
	i := strings.Index(strings.ToLower(attr), ";range=")
	if i < 0 {
		return "", 0, 0, false
	}
	name, spec := attr[:i], attr[i+len(";range="):]
	from, to, found := strings.Cut(spec, "-")
	if !found {
		return "", 0, 0, false
	}
	lo, err := strconv.Atoi(from)
	if err != nil || lo < 0 {
		return "", 0, 0, false
	}
	if to == "*" {
		return name, lo, -1, true
	}
	hi, err = strconv.Atoi(to)
	if err != nil || hi < lo {
		return "", 0, 0, false
	}
	return name, lo, hi, true
}

func byteValues(vals []string) [][]byte {
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out
}
