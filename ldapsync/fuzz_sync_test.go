package ldapsync

import (
	"errors"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// FuzzParseADUser feeds arbitrary bytes into every attribute the AD flavour
// reads: parsing must return a user or an *EntryError, never panic.
func FuzzParseADUser(f *testing.F) {
	f.Add(testGUIDBin, string([]byte{1, 1, 0, 0, 0, 0, 0, 5, 0x15, 0, 0, 0}), "512", "0", "513", "7", "alice")
	f.Add("", "", "", "", "", "", "")
	f.Add(testGUIDBin[:15], "\x01\x0f", "-1", "9223372036854775807", "x", "-3", "")
	ad := NewAD(FlavourOptions{Realm: "R"})
	f.Fuzz(func(t *testing.T, guid, sid, uac, expires, pgid, usn, name string) {
		e := ldap.NewEntry("CN=x,DC=y", map[string][]string{
			"objectGUID": {guid}, "objectSid": {sid}, "userAccountControl": {uac},
			"accountExpires": {expires}, "primaryGroupID": {pgid}, "uSNChanged": {usn}, "sAMAccountName": {name},
		})
		u, err := ad.ParseUser(e)
		if err != nil {
			if !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("error %v is not ErrMalformedEntry", err)
			}
			return
		}
		if _, err := CanonicalUUID(u.Principal.Anchor); err != nil || u.Principal.Name == "" {
			t.Fatalf("accepted %+v", u.Principal)
		}
		if _, err := ParseSID(u.Principal.SID); err != nil {
			t.Fatalf("accepted SID %q", u.Principal.SID)
		}
	})
}

// FuzzParseRFC2307User does the same for the RFC 2307 flavour, and checks
// that ChangedFilter accepts the change mark or rejects it cleanly.
func FuzzParseRFC2307User(f *testing.F) {
	f.Add("6b29fc40-ca47-1067-b31d-00dd010662da", "S-1-5-21-1-2-3", "20240102030405.123456Z#000000#000#000000", "19000", "alice@R", "TRUE")
	f.Add("", "", "", "", "", "")
	f.Add("{6B29FC40-CA47-1067-B31D-00DD010662DA}", "S-1-0x10-1", "20240102030405Z", "-1", "@", "false")
	fl := NewRFC2307(FlavourOptions{Realm: "R", Membership: MembershipMemberOf})
	f.Fuzz(func(t *testing.T, uuid, sid, csn, shadow, krb, lock string) {
		e := ldap.NewEntry("uid=a,dc=x", map[string][]string{
			"uid": {"a"}, "entryUUID": {uuid}, "sambaSID": {sid}, "entryCSN": {csn},
			"shadowExpire": {shadow}, "krbPrincipalName": {krb}, "nsAccountLock": {lock},
		})
		u, err := fl.ParseUser(e)
		if err != nil {
			if !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("error %v is not ErrMalformedEntry", err)
			}
			return
		}
		if u.Principal.Name == "" {
			t.Fatalf("empty name from %q", krb)
		}
		if filter, err := fl.ChangedFilter(u.Principal.ChangeMark); err == nil {
			if _, err := ldap.CompileFilter(filter); err != nil {
				t.Fatalf("ChangedFilter(%q) = %q: %v", u.Principal.ChangeMark, filter, err)
			}
		}
	})
}

// FuzzNormDN: any string gives a key; for a valid DN the key is itself a
// DN with the same key (canonical form is stable).
func FuzzNormDN(f *testing.F) {
	f.Add("CN=Staff, OU=Groups,DC=Example,DC=test")
	f.Add(`cn=a\,b+uid=c,dc=x`)
	f.Add("=,=")
	f.Fuzz(func(t *testing.T, dn string) {
		k := normDN(dn)
		if _, err := ldap.ParseDN(dn); err != nil {
			return
		}
		if again := normDN(k); again != k {
			t.Fatalf("normDN(%q) = %q, normDN of that = %q", dn, k, again)
		}
	})
}
