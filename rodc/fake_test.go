package rodc

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/ldapsync"
)

// fakeDir is an in-memory directory that behaves like Samba AD for the
// operations RODC provisioning uses: the RODC_DCPROMO control, DN-valued
// link attributes stored by GUID (so renames keep them), the computed
// msDS-KrbTgtLinkBl backlink, <SID=…> base DNs, the extended-DN control and
// msDS-KeyVersionNumber bumped by a unicodePwd replace.
type fakeDir struct {
	base      string
	domainSID string
	entries   map[string]*fakeEntry // key: lower-cased DN
	nextGUID  int
	nextRID   int
	nextNum   int
	writes    []string // successful writes, "add DN", "modify DN attr,…", "modrdn DN -> RDN", "delete DN"
	// hook, when set, runs before every operation; a non-nil result fails it.
	hook func(op, dn string) error
	// ignoreDCPromo makes the fake accept the control but not act on it.
	ignoreDCPromo bool
	// noKeyBump makes unicodePwd replaces leave msDS-KeyVersionNumber alone.
	noKeyBump bool
}

type fakeEntry struct {
	dn    string
	guid  string
	attrs map[string][]string // lower-cased attribute name -> values
}

var linkAttrs = map[string]bool{"msds-krbtgtlink": true, "msds-revealondemandgroup": true, "msds-neverrevealgroup": true}

const fakeBase = "DC=corp,DC=example,DC=test"
const fakeDomainSID = "S-1-5-21-1111-2222-3333"

func newFakeDir() *fakeDir {
	d := &fakeDir{base: fakeBase, domainSID: fakeDomainSID, entries: map[string]*fakeEntry{}, nextRID: 1100, nextNum: 4242}
	d.put(fakeBase, map[string][]string{"objectclass": {"top", "domain"}, "objectsid": {fakeDomainSID}})
	for _, c := range []string{"CN=Users", "OU=Domain Controllers", "CN=Builtin", "CN=Computers", "CN=ForeignSecurityPrincipals"} {
		d.put(c+","+fakeBase, map[string][]string{"objectclass": {"top", "container"}})
	}
	for rid, name := range map[int]string{512: "Domain Admins", 571: "Allowed RODC Password Replication Group",
		572: "Denied RODC Password Replication Group", 513: "Domain Users"} {
		d.put("CN="+name+",CN=Users,"+fakeBase, map[string][]string{"objectclass": {"top", "group"},
			"objectsid": {fakeDomainSID + "-" + strconv.Itoa(rid)}, "samaccountname": {name}})
	}
	for rid, name := range map[int]string{544: "Administrators", 548: "Account Operators", 549: "Server Operators",
		550: "Print Operators", 551: "Backup Operators"} {
		d.put("CN="+name+",CN=Builtin,"+fakeBase, map[string][]string{"objectclass": {"top", "group"},
			"objectsid": {"S-1-5-32-" + strconv.Itoa(rid)}, "samaccountname": {name}})
	}
	d.put("CN=krbtgt,CN=Users,"+fakeBase, map[string][]string{"objectclass": {"top", "person", "organizationalPerson", "user"},
		"objectsid": {fakeDomainSID + "-502"}, "samaccountname": {"krbtgt"}, "useraccountcontrol": {"514"}})
	return d
}

func (d *fakeDir) put(dn string, attrs map[string][]string) *fakeEntry {
	d.nextGUID++
	e := &fakeEntry{dn: dn, guid: fmt.Sprintf("00000000-0000-0000-0000-%012d", d.nextGUID), attrs: attrs}
	d.entries[strings.ToLower(dn)] = e
	return e
}

func (d *fakeDir) get(dn string) *fakeEntry { return d.entries[strings.ToLower(dn)] }

func (d *fakeDir) byGUID(g string) *fakeEntry {
	for _, e := range d.entries {
		if e.guid == g {
			return e
		}
	}
	return nil
}

func (d *fakeDir) bySID(sid string) *fakeEntry {
	for _, e := range d.entries {
		if v := e.attrs["objectsid"]; len(v) > 0 && v[0] == sid {
			return e
		}
	}
	return nil
}

func noSuchObject(dn string) error {
	return ldap.NewError(ldap.LDAPResultNoSuchObject, fmt.Errorf("%s: no such object", dn))
}

func (d *fakeDir) runHook(op, dn string) error {
	if d.hook != nil {
		return d.hook(op, dn)
	}
	return nil
}

// Search implements Conn.
func (d *fakeDir) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if err := d.runHook("search", req.BaseDN); err != nil {
		return nil, err
	}
	ext := false
	for _, c := range req.Controls {
		ext = ext || c.GetControlType() == OIDExtendedDN
	}
	if req.BaseDN == "" && req.Scope == ldap.ScopeBaseObject {
		return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry("", map[string][]string{"defaultNamingContext": {d.base}})}}, nil
	}
	var base *fakeEntry
	if strings.HasPrefix(req.BaseDN, "<SID=") {
		base = d.bySID(strings.TrimSuffix(strings.TrimPrefix(req.BaseDN, "<SID="), ">"))
	} else {
		base = d.get(req.BaseDN)
	}
	if base == nil {
		return nil, noSuchObject(req.BaseDN)
	}
	filter, err := ldap.CompileFilter(req.Filter)
	if err != nil {
		return nil, ldap.NewError(ldap.LDAPResultFilterError, err)
	}
	var cands []*fakeEntry
	if req.Scope == ldap.ScopeBaseObject {
		cands = []*fakeEntry{base}
	} else {
		suffix := "," + strings.ToLower(base.dn)
		keys := make([]string, 0, len(d.entries))
		for k := range d.entries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == strings.ToLower(base.dn) || strings.HasSuffix(k, suffix) {
				cands = append(cands, d.entries[k])
			}
		}
	}
	res := &ldap.SearchResult{}
	for _, e := range cands {
		if d.match(e, filter) {
			res.Entries = append(res.Entries, d.render(e, req.Attributes, ext))
		}
	}
	return res, nil
}

// values returns an entry's attribute values as a client would see them
// (links resolved, backlinks computed).
func (d *fakeDir) values(e *fakeEntry, attr string, ext bool) []string {
	attr = strings.ToLower(attr)
	if attr == "msds-krbtgtlinkbl" {
		var out []string
		for _, o := range d.entries {
			if v := o.attrs["msds-krbtgtlink"]; len(v) > 0 && v[0] == e.guid {
				out = append(out, d.dnValue(o, ext))
			}
		}
		return out
	}
	vals := e.attrs[attr]
	if !linkAttrs[attr] {
		return vals
	}
	var out []string
	for _, g := range vals {
		if t := d.byGUID(g); t != nil {
			out = append(out, d.dnValue(t, ext))
		}
	}
	return out
}

func (d *fakeDir) dnValue(e *fakeEntry, ext bool) string {
	if !ext {
		return e.dn
	}
	s := "<GUID=" + e.guid + ">;"
	if v := e.attrs["objectsid"]; len(v) > 0 {
		s += "<SID=" + v[0] + ">;"
	}
	return s + e.dn
}

func (d *fakeDir) render(e *fakeEntry, attrs []string, ext bool) *ldap.Entry {
	out := &ldap.Entry{DN: d.dnValue(e, ext)}
	for _, a := range attrs {
		vals := d.values(e, a, ext)
		if len(vals) == 0 {
			continue
		}
		ea := &ldap.EntryAttribute{Name: a, Values: vals}
		for _, v := range vals {
			if strings.EqualFold(a, "objectSid") {
				b, _ := ldapsync.EncodeSID(v)
				v = string(b)
				ea.Values = []string{v}
			}
			ea.ByteValues = append(ea.ByteValues, []byte(v))
		}
		out.Attributes = append(out.Attributes, ea)
	}
	return out
}

// match evaluates the filter kinds the code under test uses: and, equality,
// presence.
func (d *fakeDir) match(e *fakeEntry, f *ber.Packet) bool {
	switch f.Tag {
	case ldap.FilterAnd:
		for _, c := range f.Children {
			if !d.match(e, c) {
				return false
			}
		}
		return true
	case ldap.FilterEqualityMatch:
		attr, want := f.Children[0].Data.String(), f.Children[1].Data.String()
		return hasValueFold(d.values(e, attr, false), want)
	case ldap.FilterPresent:
		return len(d.values(e, f.Data.String(), false)) > 0
	}
	panic(fmt.Sprintf("fakeDir: unsupported filter tag %d", f.Tag))
}

// Add implements Conn.
func (d *fakeDir) Add(req *ldap.AddRequest) error {
	if err := d.runHook("add", req.DN); err != nil {
		return err
	}
	if d.get(req.DN) != nil {
		return ldap.NewError(ldap.LDAPResultEntryAlreadyExists, fmt.Errorf("%s exists", req.DN))
	}
	attrs := map[string][]string{}
	for _, a := range req.Attributes {
		key := strings.ToLower(a.Type)
		if linkAttrs[key] {
			vals, err := d.toGUIDs(a.Vals)
			if err != nil {
				return err
			}
			attrs[key] = vals
			continue
		}
		attrs[key] = a.Vals
	}
	attrs["objectclass"] = expandClasses(attrs["objectclass"])
	if hasValueFold(attrs["objectclass"], "user") || hasValueFold(attrs["objectclass"], "group") {
		d.nextRID++
		attrs["objectsid"] = []string{d.domainSID + "-" + strconv.Itoa(d.nextRID)}
	}
	for _, c := range req.Controls {
		if c.GetControlType() == OIDRODCDCPromo && !d.ignoreDCPromo {
			d.nextNum++
			attrs["msds-secondarykrbtgtnumber"] = []string{strconv.Itoa(d.nextNum)}
			attrs["samaccountname"] = []string{"krbtgt_" + strconv.Itoa(d.nextNum)}
			attrs["msds-keyversionnumber"] = []string{"1"}
		}
	}
	if _, ok := attrs["unicodepwd"]; ok && attrs["msds-keyversionnumber"] == nil {
		attrs["msds-keyversionnumber"] = []string{"1"} // a password set at creation is key version 1
	}
	d.put(req.DN, attrs)
	d.writes = append(d.writes, "add "+req.DN)
	return nil
}

func expandClasses(oc []string) []string {
	switch {
	case hasValueFold(oc, "computer"):
		return []string{"top", "person", "organizationalPerson", "user", "computer"}
	case hasValueFold(oc, "user"):
		return []string{"top", "person", "organizationalPerson", "user"}
	}
	return append([]string{"top"}, oc...)
}

// toGUIDs resolves DN or <SID=…> values; unknown SIDs become foreign
// security principals, as in Samba.
func (d *fakeDir) toGUIDs(vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		var t *fakeEntry
		if strings.HasPrefix(v, "<SID=") {
			sid := strings.TrimSuffix(strings.TrimPrefix(v, "<SID="), ">")
			if t = d.bySID(sid); t == nil {
				t = d.put("CN="+sid+",CN=ForeignSecurityPrincipals,"+d.base, map[string][]string{
					"objectclass": {"top", "foreignSecurityPrincipal"}, "objectsid": {sid}})
			}
		} else if t = d.get(v); t == nil {
			return nil, noSuchObject(v)
		}
		out = append(out, t.guid)
	}
	return out, nil
}

// Modify implements Conn.
func (d *fakeDir) Modify(req *ldap.ModifyRequest) error {
	if err := d.runHook("modify", req.DN); err != nil {
		return err
	}
	e := d.get(req.DN)
	if e == nil {
		return noSuchObject(req.DN)
	}
	var attrNames []string
	for _, ch := range req.Changes {
		key := strings.ToLower(ch.Modification.Type)
		attrNames = append(attrNames, ch.Modification.Type)
		switch {
		case key == "unicodepwd":
			if kv := e.attrs["msds-keyversionnumber"]; len(kv) > 0 && !d.noKeyBump {
				n, _ := strconv.Atoi(kv[0])
				e.attrs["msds-keyversionnumber"] = []string{strconv.Itoa(n + 1)}
			}
			e.attrs[key] = ch.Modification.Vals // kept for tests that derive keys from it
		case ch.Operation == ldap.DeleteAttribute:
			delete(e.attrs, key)
		case linkAttrs[key]:
			vals, err := d.toGUIDs(ch.Modification.Vals)
			if err != nil {
				return err
			}
			e.attrs[key] = vals
		default:
			e.attrs[key] = ch.Modification.Vals
		}
	}
	d.writes = append(d.writes, "modify "+req.DN+" "+strings.Join(attrNames, ","))
	return nil
}

// ModifyDN implements Conn (rename within the same parent only).
func (d *fakeDir) ModifyDN(req *ldap.ModifyDNRequest) error {
	if err := d.runHook("modrdn", req.DN); err != nil {
		return err
	}
	e := d.get(req.DN)
	if e == nil {
		return noSuchObject(req.DN)
	}
	_, parent, _ := strings.Cut(e.dn, ",")
	newDN := req.NewRDN + "," + parent
	if d.get(newDN) != nil {
		return ldap.NewError(ldap.LDAPResultEntryAlreadyExists, errors.New("target exists"))
	}
	delete(d.entries, strings.ToLower(e.dn))
	e.dn = newDN
	d.entries[strings.ToLower(newDN)] = e
	d.writes = append(d.writes, "modrdn "+req.DN+" -> "+req.NewRDN)
	return nil
}

// Del implements Conn.
func (d *fakeDir) Del(req *ldap.DelRequest) error {
	if err := d.runHook("delete", req.DN); err != nil {
		return err
	}
	if d.get(req.DN) == nil {
		return noSuchObject(req.DN)
	}
	delete(d.entries, strings.ToLower(req.DN))
	d.writes = append(d.writes, "delete "+req.DN)
	return nil
}

// failOn returns a hook failing every operation op on a DN containing dnPart
// with the LDAP result code.
func failOn(op, dnPart string, code uint16) func(string, string) error {
	return func(o, dn string) error {
		if o == op && strings.Contains(strings.ToLower(dn), strings.ToLower(dnPart)) {
			return ldap.NewError(code, fmt.Errorf("injected failure of %s %s", o, dn))
		}
		return nil
	}
}
