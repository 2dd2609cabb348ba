package ldapsync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const (
	testGUIDText = "6b29fc40-ca47-1067-b31d-00dd010662da"
	testUserSID  = "S-1-5-21-1004336348-1177238915-682003330-1104"
)

var testGUIDBin = string([]byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda})

func mustSIDBytes(t *testing.T, s string) string {
	t.Helper()
	b, err := EncodeSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func adUserAttrs(t *testing.T) map[string][]string {
	return map[string][]string{
		"sAMAccountName":     {"alice"},
		"userPrincipalName":  {"alice@CORP.EXAMPLE.TEST"},
		"objectGUID":         {testGUIDBin},
		"objectSid":          {mustSIDBytes(t, testUserSID)},
		"displayName":        {"Alice A."},
		"memberOf":           {"CN=Staff,CN=Users,DC=corp,DC=example,DC=test"},
		"userAccountControl": {"512"},
		"accountExpires":     {"9223372036854775807"},
		"primaryGroupID":     {"513"},
		"uSNChanged":         {"4711"},
	}
}

func TestADParseUser(t *testing.T) {
	f := NewAD(FlavourOptions{Realm: "CORP.EXAMPLE.TEST"})
	dn := "CN=Alice,CN=Users,DC=corp,DC=example,DC=test"
	u, err := f.ParseUser(ldap.NewEntry(dn, adUserAttrs(t)))
	if err != nil {
		t.Fatal(err)
	}
	p := u.Principal
	if p.Anchor != testGUIDText || p.Name != "alice" || p.SID != testUserSID || !p.Enabled ||
		!p.Expires.IsZero() || p.ChangeMark != "4711" || p.Realm != "CORP.EXAMPLE.TEST" || p.DN != dn ||
		p.UPN != "alice@CORP.EXAMPLE.TEST" || p.DisplayName != "Alice A." {
		t.Errorf("principal %+v", p)
	}
	if u.PrimaryGroupSID != "S-1-5-21-1004336348-1177238915-682003330-513" || len(u.MemberOf) != 1 {
		t.Errorf("groups: primary %q memberOf %v", u.PrimaryGroupSID, u.MemberOf)
	}
}

func TestADAccountState(t *testing.T) {
	f := NewAD(FlavourOptions{})
	cases := []struct {
		uac, expires string
		enabled      bool
		exp          time.Time
	}{
		{"512", "0", true, time.Time{}},
		{"514", "0", false, time.Time{}},                     // ACCOUNTDISABLE
		{"66050", "9223372036854775807", false, time.Time{}}, // + DONT_EXPIRE_PASSWD
		{"-2147483134", "0", false, time.Time{}},             // written signed, bit 0x2 set
		{"512", "116444736000000000", true, time.Unix(0, 0).UTC()},
		{"512", "133000000000000000", true, time.Date(2022, 6, 18, 4, 26, 40, 0, time.UTC)},
	}
	for _, c := range cases {
		a := adUserAttrs(t)
		a["userAccountControl"], a["accountExpires"] = []string{c.uac}, []string{c.expires}
		u, err := f.ParseUser(ldap.NewEntry("CN=x", a))
		if err != nil {
			t.Fatalf("uac %s: %v", c.uac, err)
		}
		if u.Principal.Enabled != c.enabled || !u.Principal.Expires.Equal(c.exp) {
			t.Errorf("uac %s expires %s: enabled %v expires %v", c.uac, c.expires, u.Principal.Enabled, u.Principal.Expires)
		}
	}
}

func TestADMalformed(t *testing.T) {
	f := NewAD(FlavourOptions{})
	cases := []struct {
		name, attr string
		vals       []string // nil: remove
		is         error
	}{
		{"short GUID", "objectGUID", []string{testGUIDBin[:15]}, ErrBadGUID},
		{"no GUID", "objectGUID", nil, ErrMalformedEntry},
		{"two GUIDs", "objectGUID", []string{testGUIDBin, testGUIDBin}, ErrMalformedEntry},
		{"truncated SID", "objectSid", []string{"\x01\x05\x00\x00\x00\x00\x00\x05\x15"}, ErrBadSID},
		{"SID revision 2", "objectSid", []string{"\x02\x00\x00\x00\x00\x00\x00\x05"}, ErrBadSID},
		{"no SID", "objectSid", nil, ErrMalformedEntry},
		{"no name", "sAMAccountName", nil, ErrMalformedEntry},
		{"uac text", "userAccountControl", []string{"enabled"}, ErrMalformedEntry},
		{"no uac", "userAccountControl", nil, ErrMalformedEntry},
		{"expires negative", "accountExpires", []string{"-5"}, ErrMalformedEntry},
		{"usn text", "uSNChanged", []string{"x"}, ErrMalformedEntry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := adUserAttrs(t)
			if c.vals == nil {
				delete(a, c.attr)
			} else {
				a[c.attr] = c.vals
			}
			_, err := f.ParseUser(ldap.NewEntry("CN=Bad,DC=x", a))
			if !errors.Is(err, c.is) || !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("err = %v, want %v", err, c.is)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.DN != "CN=Bad,DC=x" || !strings.EqualFold(ee.Attr, c.attr) {
				t.Errorf("EntryError %+v", ee)
			}
		})
	}
}

func TestADGroupAndFilters(t *testing.T) {
	f := NewAD(FlavourOptions{Membership: MembershipMember})
	g, err := f.ParseGroup(ldap.NewEntry("CN=Staff,DC=x", map[string][]string{
		"sAMAccountName": {"Staff"}, "objectGUID": {testGUIDBin}, "uSNChanged": {"9"},
		"member": {"CN=Alice,DC=x", "CN=Bob,DC=x"},
	}))
	if err != nil || g.Group.Name != "Staff" || g.Group.SID != "" || len(g.Members) != 2 {
		t.Fatalf("group %+v %v", g, err)
	}
	if got, _ := f.ChangedFilter("4711"); got != "(uSNChanged>=4712)" {
		t.Errorf("ChangedFilter = %s", got)
	}
	if _, err := f.ChangedFilter("csn"); err == nil {
		t.Error("non-numeric mark accepted")
	}
	if !f.NewerMark("10", "9") || f.NewerMark("9", "10") || !f.NewerMark("1", "") {
		t.Error("NewerMark")
	}
	req := f.AnchorSearch("DC=x", testGUIDText, false)
	if req.BaseDN != "<GUID="+testGUIDText+">" || req.Scope != ldap.ScopeBaseObject {
		t.Errorf("AnchorSearch %+v", req)
	}
	if got := f.ReverseMemberFilter("CN=a(b),DC=x", "a"); got != `(member=CN=a\28b\29,DC=x)` {
		t.Errorf("ReverseMemberFilter = %s", got)
	}
}

func rfcAttrs() map[string][]string {
	return map[string][]string{
		"uid":         {"alice"},
		"cn":          {"Alice Liddell"},
		"entryUUID":   {"6B29FC40-CA47-1067-B31D-00DD010662DA"},
		"entryCSN":    {"20240102030405.123456Z#000000#000#000000"},
		"memberOf":    {"cn=staff,ou=groups,dc=example,dc=test"},
		"sambaSID":    {"S-1-5-21-1-2-3-1104"},
		"displayName": {"Alice"},
	}
}

func TestRFC2307ParseUser(t *testing.T) {
	f := NewRFC2307(FlavourOptions{Realm: "EXAMPLE.TEST", Membership: MembershipMemberOf})
	cases := []struct {
		name    string
		edit    func(map[string][]string)
		check   func(UserEntry) bool
		wantErr error
	}{
		{"plain", func(map[string][]string) {}, func(u UserEntry) bool {
			p := u.Principal
			return p.Anchor == testGUIDText && p.Name == "alice" && p.Enabled && p.SID == "S-1-5-21-1-2-3-1104" &&
				p.ChangeMark == "20240102030405.123456Z#000000#000#000000" && len(u.MemberOf) == 1
		}, nil},
		{"krbPrincipalName in realm", func(a map[string][]string) { a["krbPrincipalName"] = []string{"alice.l@EXAMPLE.TEST"} },
			func(u UserEntry) bool { return u.Principal.Name == "alice.l" && u.NameValue == "alice" }, nil},
		{"krbPrincipalName elsewhere", func(a map[string][]string) { a["krbPrincipalName"] = []string{"alice@OTHER.TEST"} },
			func(u UserEntry) bool { return u.Principal.Name == "alice" && u.Principal.UPN == "alice@OTHER.TEST" }, nil},
		{"ppolicy locked", func(a map[string][]string) { a["pwdAccountLockedTime"] = []string{"000001010000Z"} },
			func(u UserEntry) bool { return !u.Principal.Enabled }, nil},
		{"nsAccountLock", func(a map[string][]string) { a["nsAccountLock"] = []string{"TRUE"} },
			func(u UserEntry) bool { return !u.Principal.Enabled }, nil},
		{"nsAccountLock false", func(a map[string][]string) { a["nsAccountLock"] = []string{"false"} },
			func(u UserEntry) bool { return u.Principal.Enabled }, nil},
		{"shadowExpire", func(a map[string][]string) { a["shadowExpire"] = []string{"19000"} },
			func(u UserEntry) bool { return u.Principal.Expires.Equal(time.Date(2022, 1, 8, 0, 0, 0, 0, time.UTC)) }, nil},
		{"no display name", func(a map[string][]string) { delete(a, "displayName") },
			func(u UserEntry) bool { return u.Principal.DisplayName == "Alice Liddell" }, nil},
		{"two uids, RDN wins", func(a map[string][]string) { a["uid"] = []string{"al", "alice"} },
			func(u UserEntry) bool { return u.Principal.Name == "alice" }, nil},
		{"bad sambaSID", func(a map[string][]string) { a["sambaSID"] = []string{"S-1-5-21-x"} }, nil, ErrBadSID},
		{"bad entryUUID", func(a map[string][]string) { a["entryUUID"] = []string{"123"} }, nil, ErrBadGUID},
		{"no entryUUID", func(a map[string][]string) { delete(a, "entryUUID") }, nil, ErrMalformedEntry},
		{"no uid", func(a map[string][]string) { delete(a, "uid") }, nil, ErrMalformedEntry},
		{"shadowExpire text", func(a map[string][]string) { a["shadowExpire"] = []string{"soon"} }, nil, ErrMalformedEntry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := rfcAttrs()
			c.edit(a)
			u, err := f.ParseUser(ldap.NewEntry("uid=alice,ou=people,dc=example,dc=test", a))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !errors.Is(err, ErrMalformedEntry) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || !c.check(u) {
				t.Fatalf("%+v %v", u, err)
			}
		})
	}
}

func TestRFC2307Filters(t *testing.T) {
	f := NewRFC2307(FlavourOptions{})
	got, err := f.ChangedFilter("20240102030405.123456Z#000000#000#000000")
	if err != nil || got != "(entryCSN>=20240102030405.123456Z#000000#000#000000)" {
		t.Errorf("ChangedFilter = %s %v", got, err)
	}
	if got := f.Rewind("20240102030405.123456Z#000001#002#000003", 5*time.Minute); got != "20240102025905.123456Z#000000#000#000000" {
		t.Errorf("Rewind CSN = %s", got)
	}
	if got := f.Rewind("20240102030405Z", time.Hour); got != "20240102020405Z" {
		t.Errorf("Rewind GeneralizedTime = %s", got)
	}
	ts := NewRFC2307(FlavourOptions{Attributes: AttributeNames{ChangeMark: "modifyTimestamp"}})
	if got, _ := ts.ChangedFilter("20240102030405Z"); got != "(modifyTimestamp>=20240102030405Z)" {
		t.Errorf("modifyTimestamp filter = %s", got)
	}
	if _, err := f.ChangedFilter("4711"); err == nil {
		t.Error("USN accepted as CSN")
	}
	if got := f.ReverseMemberFilter("uid=a,dc=x", "a"); got != "(|(member=uid=a,dc=x)(uniqueMember=uid=a,dc=x)(memberUid=a))" {
		t.Errorf("ReverseMemberFilter = %s", got)
	}
	g, err := f.ParseGroup(ldap.NewEntry("cn=staff,dc=x", map[string][]string{
		"cn": {"staff", "Staff members"}, "entryUUID": {testGUIDText},
		"member": {"uid=a,dc=x"}, "uniqueMember": {"uid=b,dc=x"}, "memberUid": {"c"},
	}))
	if err != nil || g.Group.Name != "staff" || len(g.Members) != 2 || len(g.MemberUIDs) != 1 {
		t.Errorf("group %+v %v", g, err)
	}
	if attrs := f.UserAttributes(); strings.Contains(strings.Join(attrs, ","), "memberOf") {
		t.Errorf("membership member reads memberOf on users: %v", attrs)
	}
}

func TestNormDN(t *testing.T) {
	if normDN("CN=Staff, OU=Groups,DC=Example,DC=test") != normDN("cn=staff,ou=groups,dc=example,dc=test") {
		t.Error("normDN differs on case/spacing")
	}
	if normDN(`cn=a\,b,dc=x`) == normDN("cn=a,cn=b,dc=x") {
		t.Error("normDN confuses an escaped comma")
	}
}
