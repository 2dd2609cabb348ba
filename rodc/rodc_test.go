package rodc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/ldapsync"
)

const (
	testName     = "PASSKDC"
	computerDN   = "CN=PASSKDC,OU=Domain Controllers," + fakeBase
	tmpKrbtgtDN  = "CN=krbtgt_PASSKDC,CN=Users," + fakeBase
	firstKrbtgt  = "CN=krbtgt_4243,CN=Users," + fakeBase
	firstNumber  = 4243
	allowDefault = fakeDomainSID + "-571"
)

func provisionOK(t *testing.T, d *fakeDir, opts RODCOptions) *RODC {
	t.Helper()
	r, err := Provision(context.Background(), d, opts)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return r
}

func TestProvisionCreatesObjects(t *testing.T) {
	d := newFakeDir()
	r := provisionOK(t, d, RODCOptions{Name: testName, Description: "test rodc"})

	wantWrites := []string{
		"add " + computerDN,
		"add " + tmpKrbtgtDN,
		"modify " + computerDN + " msDS-KrbTgtLink",
		"modrdn " + tmpKrbtgtDN + " -> CN=krbtgt_4243",
	}
	if !slices.Equal(d.writes, wantWrites) {
		t.Errorf("writes:\n got %q\nwant %q", d.writes, wantWrites)
	}
	want := RODC{Name: testName, BaseDN: fakeBase, ComputerDN: computerDN, KrbtgtDN: firstKrbtgt,
		KrbtgtName: "krbtgt_4243", Number: firstNumber, KeyVersion: 1, Created: true}
	if r.Name != want.Name || r.BaseDN != want.BaseDN || r.ComputerDN != want.ComputerDN || r.KrbtgtDN != want.KrbtgtDN ||
		r.KrbtgtName != want.KrbtgtName || r.Number != want.Number || r.KeyVersion != want.KeyVersion || !r.Created {
		t.Errorf("RODC = %+v, want %+v", r, want)
	}
	if len(r.Problems) != 0 || len(r.Warnings) != 0 {
		t.Errorf("problems %q warnings %q", r.Problems, r.Warnings)
	}
	if !slices.Equal(r.Allow, []string{allowDefault}) {
		t.Errorf("Allow = %v", r.Allow)
	}
	if !sameSet(r.Deny, DefaultNeverReveal(fakeDomainSID)) {
		t.Errorf("Deny = %v", r.Deny)
	}
	if got := r.GroupNames["S-1-5-32-549"]; got != "Server Operators" {
		t.Errorf("GroupNames[549] = %q", got)
	}
	c := d.get(computerDN)
	for attr, want := range map[string]string{"samaccountname": "PASSKDC$", "useraccountcontrol": "67112960", "description": "test rodc"} {
		if got := c.attrs[attr]; len(got) != 1 || got[0] != want {
			t.Errorf("computer %s = %v, want %s", attr, got, want)
		}
	}
	k := d.get(firstKrbtgt)
	for attr, want := range map[string]string{"useraccountcontrol": "514", "showinadvancedviewonly": "TRUE",
		"description": "krbtgt for PASSKDC$, created by passkdc"} {
		if got := k.attrs[attr]; len(got) != 1 || got[0] != want {
			t.Errorf("krbtgt %s = %v, want %s", attr, got, want)
		}
	}
	if r.KeytabKVNO() != firstNumber<<16|1 {
		t.Errorf("KeytabKVNO = %d", r.KeytabKVNO())
	}
}

// TestProvisionSendsCriticalDCPromo checks the control on the krbtgt add.
func TestProvisionSendsCriticalDCPromo(t *testing.T) {
	rec := &recordingConn{fakeDir: newFakeDir()}
	if _, err := Provision(context.Background(), rec, RODCOptions{Name: testName}); err != nil {
		t.Fatal(err)
	}
	if len(rec.adds) != 2 {
		t.Fatalf("%d adds", len(rec.adds))
	}
	if len(rec.adds[0].Controls) != 0 {
		t.Errorf("computer add carries controls %v", rec.adds[0].Controls)
	}
	ctrls := rec.adds[1].Controls
	if len(ctrls) != 1 {
		t.Fatalf("krbtgt add controls = %v", ctrls)
	}
	cs, ok := ctrls[0].(*ldap.ControlString)
	if !ok || cs.ControlType != "1.2.840.113556.1.4.1341" || !cs.Criticality || cs.ControlValue != "" {
		t.Errorf("control = %#v, want critical 1.2.840.113556.1.4.1341 without value", ctrls[0])
	}
	var reveal, never []string
	for _, a := range rec.adds[0].Attributes {
		switch a.Type {
		case attrRevealGroup:
			reveal = a.Vals
		case attrNeverReveal:
			never = a.Vals
		}
	}
	if !slices.Equal(reveal, []string{"<SID=" + allowDefault + ">"}) || len(never) != 6 || never[1] != "<SID=S-1-5-32-544>" {
		t.Errorf("reveal %q never %q", reveal, never)
	}
}

type recordingConn struct {
	*fakeDir
	adds []*ldap.AddRequest
}

func (r *recordingConn) Add(req *ldap.AddRequest) error {
	r.adds = append(r.adds, req)
	return r.fakeDir.Add(req)
}

func TestProvisionIdempotent(t *testing.T) {
	d := newFakeDir()
	first := provisionOK(t, d, RODCOptions{Name: testName})
	d.writes = nil
	second := provisionOK(t, d, RODCOptions{Name: testName, AllowGroups: []string{"S-1-5-32-544"}})
	if len(d.writes) != 0 {
		t.Errorf("second Provision wrote %q", d.writes)
	}
	if second.Created || second.Number != first.Number || second.KrbtgtDN != first.KrbtgtDN ||
		!slices.Equal(second.Allow, first.Allow) {
		t.Errorf("second = %+v, first = %+v", second, first)
	}
}

func TestProvisionRollback(t *testing.T) {
	tests := []struct {
		name string
		hook func(d *fakeDir) func(string, string) error
	}{
		{"krbtgt add fails", func(*fakeDir) func(string, string) error {
			return failOn("add", "krbtgt_PASSKDC", ldap.LDAPResultInsufficientAccessRights)
		}},
		{"read back fails", func(d *fakeDir) func(string, string) error {
			fail := failOn("search", "krbtgt_PASSKDC", ldap.LDAPResultBusy)
			return func(op, dn string) error {
				if d.get(tmpKrbtgtDN) == nil {
					return nil // only once the account exists
				}
				return fail(op, dn)
			}
		}},
		{"link fails", func(*fakeDir) func(string, string) error {
			return failOn("modify", computerDN, ldap.LDAPResultConstraintViolation)
		}},
		{"rename fails", func(*fakeDir) func(string, string) error {
			return failOn("modrdn", "krbtgt_", ldap.LDAPResultEntryAlreadyExists)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDir()
			d.hook = tc.hook(d)
			r, err := Provision(context.Background(), d, RODCOptions{Name: testName})
			if err == nil || r != nil {
				t.Fatalf("Provision = %+v, %v; want an error", r, err)
			}
			if errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "removed again") {
				t.Errorf("err = %v; want a clean rollback", err)
			}
			var le *LDAPError
			if !errors.As(err, &le) {
				t.Errorf("err %v does not wrap *LDAPError", err)
			}
			d.hook = nil
			if _, err := Show(context.Background(), d, testName, ""); !errors.Is(err, ErrNotFound) {
				t.Errorf("Show after rollback = %v, want ErrNotFound", err)
			}
			if n := len(d.writes); n < 2 || !strings.HasPrefix(d.writes[n-1], "delete "+computerDN) {
				t.Errorf("writes %q: want rollback deletes ending with the computer", d.writes)
			}
		})
	}
}

func TestProvisionRollbackFails(t *testing.T) {
	d := newFakeDir()
	link := failOn("modify", computerDN, ldap.LDAPResultOther)
	dels := failOn("delete", "", ldap.LDAPResultBusy)
	d.hook = func(op, dn string) error {
		if err := link(op, dn); err != nil {
			return err
		}
		return dels(op, dn)
	}
	_, err := Provision(context.Background(), d, RODCOptions{Name: testName})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "passkdc rodc remove --name PASSKDC") {
		t.Fatalf("err = %v; want ErrIncomplete with the remove hint", err)
	}
	d.hook = nil
	r, err := Show(context.Background(), d, testName, "")
	if !errors.Is(err, ErrIncomplete) || r == nil || len(r.Problems) != 2 {
		t.Fatalf("Show = %+v, %v; want 2 problems (no link, orphan krbtgt)", r, err)
	}
	if _, err := Remove(context.Background(), d, testName, ""); err != nil {
		t.Fatal(err)
	}
	if d.get(tmpKrbtgtDN) != nil || d.get(computerDN) != nil {
		t.Error("Remove left objects behind")
	}
}

func TestProvisionDCIgnoresControl(t *testing.T) {
	d := newFakeDir()
	d.ignoreDCPromo = true
	_, err := Provision(context.Background(), d, RODCOptions{Name: testName})
	if err == nil || !strings.Contains(err.Error(), "RODC_DCPROMO") {
		t.Fatalf("err = %v", err)
	}
	if d.get(tmpKrbtgtDN) != nil || d.get(computerDN) != nil {
		t.Error("objects left behind")
	}
}

// halfDone builds inconsistent states on top of a complete provision.
func TestHalfDoneStates(t *testing.T) {
	tests := []struct {
		name         string
		mutate       func(d *fakeDir)
		problems     int
		warnings     int
		removeErr    string // "" = Remove succeeds and cleans everything
		survivorsDNs []string
	}{
		{name: "complete but not renamed", problems: 0, warnings: 1, mutate: func(d *fakeDir) {
			e := d.get(firstKrbtgt)
			delete(d.entries, strings.ToLower(firstKrbtgt))
			e.dn = tmpKrbtgtDN
			d.entries[strings.ToLower(tmpKrbtgtDN)] = e
		}},
		{name: "computer without link", problems: 2, mutate: func(d *fakeDir) {
			delete(d.get(computerDN).attrs, "msds-krbtgtlink")
		}},
		{name: "computer only", problems: 1, mutate: func(d *fakeDir) {
			delete(d.entries, strings.ToLower(firstKrbtgt))
		}},
		{name: "orphan krbtgt only", problems: 1, mutate: func(d *fakeDir) {
			delete(d.entries, strings.ToLower(computerDN))
		}},
		{name: "link to the domain krbtgt", problems: 2, removeErr: "not an RODC krbtgt",
			survivorsDNs: []string{computerDN, "CN=krbtgt,CN=Users," + fakeBase},
			mutate: func(d *fakeDir) {
				d.get(computerDN).attrs["msds-krbtgtlink"] = []string{d.get("CN=krbtgt,CN=Users," + fakeBase).guid}
			}},
		{name: "wrong sAMAccountName", problems: 1, mutate: func(d *fakeDir) {
			d.get(firstKrbtgt).attrs["samaccountname"] = []string{"krbtgt_1"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := newFakeDir()
			provisionOK(t, d, RODCOptions{Name: testName})
			tc.mutate(d)
			d.writes = nil
			r, err := Show(ctx, d, testName, "")
			if r == nil || len(r.Problems) != tc.problems || len(r.Warnings) != tc.warnings {
				t.Fatalf("Show = %+v, %v; want %d problems, %d warnings", r, err, tc.problems, tc.warnings)
			}
			if (tc.problems > 0) != errors.Is(err, ErrIncomplete) {
				t.Errorf("Show err = %v", err)
			}
			r2, err := Provision(ctx, d, RODCOptions{Name: testName})
			if tc.problems > 0 && (!errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "passkdc rodc remove")) {
				t.Errorf("Provision err = %v, want ErrIncomplete with hint", err)
			}
			if tc.problems == 0 && (err != nil || r2.Created) {
				t.Errorf("Provision = %+v, %v", r2, err)
			}
			if len(d.writes) != 0 {
				t.Errorf("Show/Provision wrote %q", d.writes)
			}
			_, err = Remove(ctx, d, testName, "")
			if tc.removeErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.removeErr) || len(d.writes) != 0 {
					t.Errorf("Remove = %v (writes %q), want refusal %q", err, d.writes, tc.removeErr)
				}
			} else if err != nil {
				t.Fatalf("Remove: %v", err)
			} else if _, err := Show(ctx, d, testName, ""); !errors.Is(err, ErrNotFound) {
				t.Errorf("Show after Remove = %v", err)
			}
			for _, dn := range tc.survivorsDNs {
				if d.get(dn) == nil {
					t.Errorf("%s was deleted", dn)
				}
			}
		})
	}
}

func TestNotRODC(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string][]string
	}{
		{"workstation", map[string][]string{"objectclass": {"top", "computer"}, "useraccountcontrol": {"4096"}}},
		{"writable DC", map[string][]string{"objectclass": {"top", "computer"}, "useraccountcontrol": {"67117056"}}},
		{"real RODC", map[string][]string{"objectclass": {"top", "computer"}, "useraccountcontrol": {"67112960"},
			"serverreferencebl": {"CN=PASSKDC,CN=Servers,CN=Site,CN=Sites,CN=Configuration," + fakeBase}}},
		{"not a computer", map[string][]string{"objectclass": {"top", "container"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := newFakeDir()
			d.put(computerDN, tc.attrs)
			if _, err := Show(ctx, d, testName, ""); !errors.Is(err, ErrNotRODC) {
				t.Errorf("Show = %v", err)
			}
			if _, err := Provision(ctx, d, RODCOptions{Name: testName}); !errors.Is(err, ErrNotRODC) {
				t.Errorf("Provision = %v", err)
			}
			if _, err := Remove(ctx, d, testName, ""); !errors.Is(err, ErrNotRODC) {
				t.Errorf("Remove = %v", err)
			}
			if _, err := Rotate(ctx, d, testName, ""); !errors.Is(err, ErrNotRODC) {
				t.Errorf("Rotate = %v", err)
			}
			if len(d.writes) != 0 {
				t.Errorf("writes %q", d.writes)
			}
		})
	}
}

func TestProvisionConflicts(t *testing.T) {
	tests := []struct {
		name string
		dn   string
	}{
		{"account elsewhere", "CN=PASSKDC,CN=Computers," + fakeBase},
		{"foreign krbtgt_NAME entry", tmpKrbtgtDN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDir()
			d.put(tc.dn, map[string][]string{"objectclass": {"top", "user"}, "samaccountname": {"PASSKDC$"}})
			_, err := Provision(context.Background(), d, RODCOptions{Name: testName})
			if !errors.Is(err, ErrExists) || len(d.writes) != 0 {
				t.Errorf("err = %v, writes %q; want ErrExists and no writes", err, d.writes)
			}
		})
	}
}

func TestProvisionGroups(t *testing.T) {
	tests := []struct {
		name      string
		allow     []string
		deny      []string
		wantAllow []string
		wantDeny  []string // in addition to the defaults
		wantErr   error
		errText   string
	}{
		{name: "group DN", allow: []string{"CN=Domain Users,CN=Users," + fakeBase},
			wantAllow: []string{fakeDomainSID + "-513"}},
		{name: "SID, lower case, duplicates", allow: []string{"s-1-5-21-1111-2222-3333-513", fakeDomainSID + "-513"},
			deny: []string{fakeDomainSID + "-512", "S-1-5-32-544"}, wantAllow: []string{fakeDomainSID + "-513"},
			wantDeny: []string{fakeDomainSID + "-512"}},
		{name: "unknown SID", allow: []string{fakeDomainSID + "-9999"}, wantErr: ErrNotFound},
		{name: "unknown DN", deny: []string{"CN=nope,CN=Users," + fakeBase}, wantErr: ErrNotFound},
		{name: "garbage", allow: []string{"not a group"}, errText: "neither a SID"},
		{name: "bad SID", allow: []string{"S-1-5-x"}, wantErr: ErrBadSID},
		{name: "not a principal", allow: []string{"CN=Users," + fakeBase}, errText: "not a security principal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDir()
			r, err := Provision(context.Background(), d, RODCOptions{Name: testName, AllowGroups: tc.allow, DenyGroups: tc.deny})
			if tc.wantErr != nil || tc.errText != "" {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err = %v, want %v %q", err, tc.wantErr, tc.errText)
				}
				if len(d.writes) != 0 {
					t.Errorf("writes before validation: %q", d.writes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Allow, tc.wantAllow) {
				t.Errorf("Allow = %v, want %v", r.Allow, tc.wantAllow)
			}
			if want := append(DefaultNeverReveal(fakeDomainSID), tc.wantDeny...); !sameSet(r.Deny, want) {
				t.Errorf("Deny = %v, want %v", r.Deny, want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	provisionOK(t, d, RODCOptions{Name: testName})
	rec := &modifyRecorder{fakeDir: d}
	r, err := Rotate(ctx, rec, testName, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyVersion != 2 || r.Number != firstNumber || r.KeytabKVNO() != firstNumber<<16|2 {
		t.Errorf("after Rotate: %+v", r)
	}
	if len(rec.mods) != 1 || len(rec.mods[0].Changes) != 1 {
		t.Fatalf("modifies = %v", rec.mods)
	}
	ch := rec.mods[0].Changes[0]
	pw := ch.Modification.Vals[0]
	if ch.Operation != ldap.ReplaceAttribute || ch.Modification.Type != "unicodePwd" || rec.mods[0].DN != firstKrbtgt ||
		len(pw) < 80 || !strings.HasPrefix(pw, "\"\x00") || !strings.HasSuffix(pw, "\"\x00") {
		t.Errorf("modify %s %+v", rec.mods[0].DN, ch)
	}
	r, err = Rotate(ctx, rec, testName, "")
	if err != nil || r.KeyVersion != 3 {
		t.Errorf("second Rotate: %+v, %v", r, err)
	}
	if rec.mods[1].Changes[0].Modification.Vals[0] == pw {
		t.Error("Rotate reused the random password")
	}

	d.noKeyBump = true
	if _, err := Rotate(ctx, d, testName, ""); err == nil || !strings.Contains(err.Error(), "did not increase") {
		t.Errorf("Rotate without bump: %v", err)
	}
	d.noKeyBump = false
	d.hook = failOn("modify", "krbtgt_", ldap.LDAPResultUnwillingToPerform)
	if _, err := Rotate(ctx, d, testName, ""); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("Rotate refused: %v", err)
	}
	d.hook = nil
	if _, err := Rotate(ctx, d, "OTHER", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate of missing RODC: %v", err)
	}
}

type modifyRecorder struct {
	*fakeDir
	mods []*ldap.ModifyRequest
}

func (m *modifyRecorder) Modify(req *ldap.ModifyRequest) error {
	m.mods = append(m.mods, req)
	return m.fakeDir.Modify(req)
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	if _, err := Remove(ctx, d, testName, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of nothing = %v, want ErrNotFound", err)
	}
	provisionOK(t, d, RODCOptions{Name: testName})
	d.writes = nil
	if _, err := Remove(ctx, d, testName, ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"delete " + firstKrbtgt, "delete " + computerDN}
	if !slices.Equal(d.writes, want) {
		t.Errorf("writes %q, want %q", d.writes, want)
	}
	d.writes = nil
	if _, err := Remove(ctx, d, testName, ""); !errors.Is(err, ErrNotFound) || len(d.writes) != 0 {
		t.Errorf("second Remove = %v (writes %q)", err, d.writes)
	}
	// another RODC's objects are untouched
	provisionOK(t, d, RODCOptions{Name: "OTHER"})
	provisionOK(t, d, RODCOptions{Name: testName})
	if _, err := Remove(ctx, d, testName, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Show(ctx, d, "OTHER", ""); err != nil {
		t.Errorf("Show OTHER after removing PASSKDC: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	d := newFakeDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Provision(ctx, d, RODCOptions{Name: testName}); !errors.Is(err, context.Canceled) {
		t.Errorf("Provision = %v", err)
	}
	// cancelled mid-way: the rollback still runs
	ctx, cancel = context.WithCancel(context.Background())
	d.hook = func(op, dn string) error {
		if op == "add" && strings.Contains(dn, "krbtgt") {
			cancel()
		}
		return nil
	}
	if _, err := Provision(ctx, d, RODCOptions{Name: testName}); !errors.Is(err, context.Canceled) {
		t.Errorf("Provision = %v", err)
	}
	if len(d.entries) != len(newFakeDir().entries) {
		t.Errorf("objects left after cancelled provision: writes %q", d.writes)
	}
}

func TestBaseDN(t *testing.T) {
	d := newFakeDir()
	r := provisionOK(t, d, RODCOptions{Name: testName, BaseDN: fakeBase})
	if r.BaseDN != fakeBase {
		t.Errorf("BaseDN = %s", r.BaseDN)
	}
	if _, err := Show(context.Background(), d, testName, "DC=other,DC=test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show under another base = %v", err)
	}
	if _, err := Show(context.Background(), d, testName, "not a dn"); err == nil {
		t.Error("Show with a bad base DN succeeded")
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"PASSKDC", true}, {"a", true}, {"RODC-01", true}, {"ABCDEFGHIJKLMNO", true},
		{"", false}, {"ABCDEFGHIJKLMNOP", false}, {"-X", false}, {"12345", false},
		{"A,B", false}, {"A B", false}, {"PASSKDC$", false}, {"a=b", false}, {"é", false},
	}
	for _, tc := range tests {
		if err := validateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("validateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if _, err := Provision(context.Background(), newFakeDir(), RODCOptions{Name: "bad name"}); err == nil {
		t.Error("Provision accepted a bad name")
	}
}

func TestParseExtendedDN(t *testing.T) {
	tests := []struct {
		in   string
		want ExtendedDN
		err  bool
	}{
		{in: "CN=x,DC=y", want: ExtendedDN{DN: "CN=x,DC=y"}},
		{in: "<GUID=aa-bb>;<SID=S-1-5-32-544>;CN=Administrators,CN=Builtin,DC=y",
			want: ExtendedDN{GUID: "aa-bb", SID: "S-1-5-32-544", DN: "CN=Administrators,CN=Builtin,DC=y"}},
		{in: "<GUID=aa>;CN=Users,DC=y", want: ExtendedDN{GUID: "aa", DN: "CN=Users,DC=y"}},
		{in: "<SID=010200000000000520000000200200 00>;CN=x", err: true},
		{in: "<SID=01020000000000052000000020020000>;CN=x", want: ExtendedDN{SID: "S-1-5-32-544", DN: "CN=x"}},
		{in: "<WKGUID=x,DC=y>;<GUID=g>;CN=x", want: ExtendedDN{GUID: "g", DN: "CN=x"}},
		{in: "<GUID=g>", want: ExtendedDN{GUID: "g"}},
		{in: "<GUID=g", err: true},
		{in: "<GUID>;CN=x", err: true},
		{in: "<GUID=g>CN=x", err: true},
		{in: "<SID=S-1-x>;CN=x", err: true},
	}
	for _, tc := range tests {
		got, err := parseExtendedDN(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseExtendedDN(%q) = %+v, %v; want %+v err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseExtendedDN(f *testing.F) {
	f.Add("<GUID=aa-bb>;<SID=S-1-5-32-544>;CN=Administrators,CN=Builtin,DC=y")
	f.Add("<SID=01020000000000052000000020020000>;CN=x")
	f.Add("CN=x,DC=y")
	f.Add("<GUID=g>")
	f.Fuzz(func(t *testing.T, s string) {
		x, err := parseExtendedDN(s)
		if err != nil {
			return
		}
		if x.SID != "" {
			if c, err := ldapsync.CanonicalSID(x.SID); err != nil || c != x.SID {
				t.Fatalf("SID %q not canonical", x.SID)
			}
		}
		if !strings.HasSuffix(s, x.DN) {
			t.Fatalf("DN %q is not the tail of %q", x.DN, s)
		}
	})
}

func TestEncodeUnicodePwd(t *testing.T) {
	if got := encodeUnicodePwd("aé"); got != "\"\x00a\x00\xe9\x00\"\x00" {
		t.Errorf("encodeUnicodePwd = %q", got)
	}
	if got := encodeUnicodePwd("😀"); got != "\"\x00\x3d\xd8\x00\xde\"\x00" {
		t.Errorf("encodeUnicodePwd(surrogate pair) = %q", got)
	}
}
