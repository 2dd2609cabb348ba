package rodc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/ldapsync"
)

// rodcState is what inspect found for one RODC name.
type rodcState struct {
	rodc         *RODC
	n            rodcNames
	computer     *ldap.Entry // nil: no computer object
	linked       *ldap.Entry // the msDS-KrbTgtLink target, if it exists
	linkedUnsafe string      // why the linked entry must not be deleted
	orphans      []string    // unlinked krbtgt accounts carrying our marker
}

// err returns the ErrIncomplete error for the recorded problems, or nil.
func (s *rodcState) err() error {
	if len(s.rodc.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: RODC %s: %s; run `passkdc rodc remove --name %s` to delete the leftovers, then provision again",
		ErrIncomplete, s.n.name, strings.Join(s.rodc.Problems, "; "), s.n.name)
}

func (s *rodcState) problem(format string, args ...any) {
	s.rodc.Problems = append(s.rodc.Problems, fmt.Sprintf(format, args...))
}

func (s *rodcState) warn(format string, args ...any) {
	s.rodc.Warnings = append(s.rodc.Warnings, fmt.Sprintf(format, args...))
}

var computerAttrs = []string{attrObjectClass, attrSAM, attrUAC, attrKrbTgtLink, attrRevealGroup,
	attrNeverReveal, attrServerRefBL, attrDescription}

var krbtgtAttrs = []string{attrSAM, attrKrbTgtNumber, attrKeyVersion, attrUAC, attrKrbTgtLinkBl, attrDescription}

// inspect reads everything that belongs to the RODC n.name. Only a computer
// that is not an RODC (ErrNotRODC) or an LDAP failure is an error;
// inconsistencies are recorded in rodc.Problems.
func inspect(ctx context.Context, c Conn, n rodcNames) (*rodcState, error) {
	s := &rodcState{n: n, rodc: &RODC{Name: n.name, BaseDN: n.base, ComputerDN: n.computerDN, GroupNames: map[string]string{}}}
	comp, err := rodcSearchBaseOpt(ctx, c, n.computerDN, computerAttrs, true)
	if err != nil {
		return nil, err
	}
	s.computer = comp
	if comp != nil {
		if err := checkComputer(comp); err != nil {
			return nil, err
		}
		if err := s.readPolicy(ctx, c); err != nil {
			return nil, err
		}
		if err := s.readLink(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := s.findOrphans(ctx, c); err != nil {
		return nil, err
	}
	return s, nil
}

// checkComputer refuses anything but a mock RODC computer object.
func checkComputer(e *ldap.Entry) error {
	if !hasValueFold(e.GetEqualFoldAttributeValues(attrObjectClass), "computer") {
		return fmt.Errorf("%w: %s is not a computer object", ErrNotRODC, e.DN)
	}
	uac, err := strconv.ParseUint(e.GetEqualFoldAttributeValue(attrUAC), 10, 32)
	if err != nil {
		return fmt.Errorf("%w: %s: unreadable userAccountControl %q", ErrNotRODC, e.DN, e.GetEqualFoldAttributeValue(attrUAC))
	}
	if uac&uacRODCComputer != uacRODCComputer || uac&uacServerTrust != 0 {
		return fmt.Errorf("%w: %s: userAccountControl %#x lacks PARTIAL_SECRETS_ACCOUNT|WORKSTATION_TRUST_ACCOUNT or is a writable DC",
			ErrNotRODC, e.DN, uac)
	}
	if v := e.GetEqualFoldAttributeValues(attrServerRefBL); len(v) > 0 {
		return fmt.Errorf("%w: %s is a real, promoted read-only DC (server object %s); demote it instead",
			ErrNotRODC, e.DN, v[0])
	}
	return nil
}

func hasValueFold(vals []string, want string) bool {
	for _, v := range vals {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

// readPolicy fills Allow, Deny and GroupNames from the computer object.
func (s *rodcState) readPolicy(ctx context.Context, c Conn) error {
	var err error
	if s.rodc.Allow, err = s.groupSIDs(ctx, c, attrRevealGroup); err != nil {
		return err
	}
	s.rodc.Deny, err = s.groupSIDs(ctx, c, attrNeverReveal)
	if len(s.rodc.Allow) == 0 && err == nil {
		s.warn("no %s: the DC will refuse every partial TGT", attrRevealGroup)
	}
	return err
}

// groupSIDs resolves the (extended) DN values of attr to SIDs.
func (s *rodcState) groupSIDs(ctx context.Context, c Conn, attr string) ([]string, error) {
	var out []string
	for _, v := range s.computer.GetEqualFoldAttributeValues(attr) {
		x, err := parseExtendedDN(v)
		if err != nil && attr == attrNeverReveal {
			s.rodc.Unresolved = append(s.rodc.Unresolved, v)
			continue
		}
		if err != nil {
			s.problem("%s value %q: %v", attr, v, err)
			continue
		}
		if x.SID == "" && x.DN != "" {
			e, err := rodcSearchBaseOpt(ctx, c, x.DN, []string{attrObjectSid}, false)
			if err != nil {
				return nil, err
			}
			if e != nil {
				x.SID, _ = ldapsync.DecodeSID(e.GetEqualFoldRawAttributeValue(attrObjectSid))
			}
		}
		if x.SID == "" && attr == attrNeverReveal {
			s.rodc.Unresolved = append(s.rodc.Unresolved, x.DN)
			continue
		}
		if x.SID == "" {
			s.warn("%s value %s has no SID; ignored", attr, v)
			continue
		}
		out = append(out, x.SID)
		if name := rdnValue(x.DN); name != "" {
			s.rodc.GroupNames[x.SID] = name
		}
	}
	return out, nil
}

// readLink follows msDS-KrbTgtLink and checks the krbtgt account.
func (s *rodcState) readLink(ctx context.Context, c Conn) error {
	links := s.computer.GetEqualFoldAttributeValues(attrKrbTgtLink)
	if len(links) == 0 {
		s.problem("computer %s has no %s (the krbtgt account was never created or linked)", s.n.computerDN, attrKrbTgtLink)
		return nil
	}
	x, err := parseExtendedDN(links[0])
	if err != nil || x.DN == "" {
		s.problem("unreadable %s value %q", attrKrbTgtLink, links[0])
		return nil
	}
	e, err := rodcSearchBaseOpt(ctx, c, x.DN, krbtgtAttrs, true)
	if err != nil {
		return err
	}
	if e == nil {
		s.problem("%s points to %s, which does not exist", attrKrbTgtLink, x.DN)
		return nil
	}
	s.linked = e
	s.rodc.KrbtgtDN = e.DN
	s.rodc.KrbtgtGUID = x.GUID
	s.checkKrbtgt(e)
	return nil
}

// checkKrbtgt validates the linked krbtgt account and fills the RODC fields.
func (s *rodcState) checkKrbtgt(e *ldap.Entry) {
	sam := e.GetEqualFoldAttributeValue(attrSAM)
	s.rodc.KrbtgtName = sam
	number, err := parseKrbtgtNumber(e.GetEqualFoldAttributeValue(attrKrbTgtNumber))
	if err != nil {
		s.problem("linked account %s: %v", e.DN, err)
		s.linkedUnsafe = fmt.Sprintf("linked account %s is not an RODC krbtgt account (%v); fix %s by hand", e.DN, err, attrKrbTgtLink)
		return
	}
	s.rodc.Number = number
	want := "krbtgt_" + strconv.Itoa(int(number))
	if !strings.EqualFold(sam, want) {
		s.problem("linked account %s has sAMAccountName %q, want %q", e.DN, sam, want)
	}
	for _, bl := range e.GetEqualFoldAttributeValues(attrKrbTgtLinkBl) {
		x, err := parseExtendedDN(bl)
		if err == nil && !dnEqual(x.DN, s.n.computerDN) {
			s.problem("krbtgt account %s is also linked from %s", e.DN, x.DN)
			s.linkedUnsafe = fmt.Sprintf("krbtgt account %s is shared with %s", e.DN, x.DN)
		}
	}
	if rdnValue(e.DN) != "" && !strings.EqualFold(rdnValue(e.DN), want) {
		s.warn("krbtgt entry is %s, not CN=%s (the final rename did not happen; harmless)", e.DN, want)
	}
	if kv := e.GetEqualFoldAttributeValue(attrKeyVersion); kv != "" {
		v, err := strconv.ParseUint(kv, 10, 32)
		if err != nil {
			s.warn("unreadable %s %q", attrKeyVersion, kv)
		}
		s.rodc.KeyVersion = uint32(v)
	} else {
		s.warn("%s not readable", attrKeyVersion)
	}
}

// findOrphans looks for krbtgt accounts created for this RODC (by their
// description marker) that the computer does not link to.
func (s *rodcState) findOrphans(ctx context.Context, c Conn) error {
	filter := "(&(objectClass=user)(" + attrKrbTgtNumber + "=*)(" + attrDescription + "=" + ldap.EscapeFilter(s.n.marker) + "))"
	res, err := rodcSearch(ctx, c, ldap.NewSearchRequest(s.n.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, krbtgtAttrs, []ldap.Control{extendedDNControl()}))
	if err != nil {
		return err
	}
	for _, e := range res.Entries {
		normalizeEntryDN(e)
		if s.linked != nil && dnEqual(e.DN, s.linked.DN) {
			continue
		}
		if bl := e.GetEqualFoldAttributeValues(attrKrbTgtLinkBl); len(bl) > 0 {
			s.problem("krbtgt account %s is marked as %s's but linked from %s", e.DN, s.n.name, bl[0])
			continue
		}
		s.orphans = append(s.orphans, e.DN)
		s.problem("unlinked krbtgt account %s (%s) left by an interrupted provision", e.DN, e.GetEqualFoldAttributeValue(attrSAM))
	}
	return nil
}

// rodcPolicy is the resolved password replication policy for a new RODC.
type rodcPolicy struct {
	allow, deny []string
}

// resolvePolicy turns the option groups (plus defaults) into SIDs, checking
// that each exists in the directory.
func resolvePolicy(ctx context.Context, c Conn, base string, opts RODCOptions) (rodcPolicy, error) {
	e, err := rodcSearchBase(ctx, c, base, []string{attrObjectSid}, false)
	if err != nil {
		return rodcPolicy{}, fmt.Errorf("reading domain SID: %w", err)
	}
	domSID, err := ldapsync.DecodeSID(e.GetEqualFoldRawAttributeValue(attrObjectSid))
	if err != nil {
		return rodcPolicy{}, fmt.Errorf("domain SID (objectSid of %s): %w", base, err)
	}
	allow := opts.AllowGroups
	if len(allow) == 0 {
		allow = []string{domSID + "-" + strconv.Itoa(ridAllowedRODCReplication)}
	}
	deny := append(DefaultNeverReveal(domSID), opts.DenyGroups...)
	var p rodcPolicy
	if p.allow, err = resolveGroups(ctx, c, allow); err != nil {
		return rodcPolicy{}, fmt.Errorf("allow groups: %w", err)
	}
	if p.deny, err = resolveGroups(ctx, c, deny); err != nil {
		return rodcPolicy{}, fmt.Errorf("deny groups: %w", err)
	}
	return p, nil
}

// DefaultNeverReveal returns the never-reveal groups every RODC gets: the
// domain's Denied RODC Password Replication Group and the builtin
// Administrators, Account, Server, Print and Backup Operators.
func DefaultNeverReveal(domainSID string) []string {
	return append([]string{domainSID + "-" + strconv.Itoa(ridDeniedRODCReplication)}, BuiltinNeverReveal()...)
}

// BuiltinNeverReveal are the builtin groups every RODC's policy denies:
// Administrators, Account, Server, Print and Backup Operators (also the
// standalone mode's policy, which has no domain).
func BuiltinNeverReveal() []string {
	return []string{"S-1-5-32-544", "S-1-5-32-548", "S-1-5-32-549", "S-1-5-32-550", "S-1-5-32-551"}
}

// resolveGroups maps SIDs or DNs to the SIDs of existing objects, deduplicated.
func resolveGroups(ctx context.Context, c Conn, specs []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, spec := range specs {
		sid, err := resolveGroup(ctx, c, strings.TrimSpace(spec))
		if err != nil {
			return nil, err
		}
		if !seen[sid] {
			seen[sid] = true
			out = append(out, sid)
		}
	}
	return out, nil
}

// resolveGroup returns the SID of the object named by a SID or a DN.
func resolveGroup(ctx context.Context, c Conn, spec string) (string, error) {
	base := spec
	if looksLikeSID(spec) {
		sid, err := ldapsync.CanonicalSID(spec)
		if err != nil {
			return "", err
		}
		base = "<SID=" + sid + ">"
	} else if _, err := ldap.ParseDN(spec); err != nil || spec == "" {
		return "", fmt.Errorf("group %q: neither a SID (S-1-…) nor a DN", spec)
	}
	e, err := rodcSearchBaseOpt(ctx, c, base, []string{attrObjectSid}, false)
	if err != nil {
		return "", fmt.Errorf("group %s: %w", spec, err)
	}
	if e == nil {
		return "", fmt.Errorf("%w: group %s does not exist in the directory", ErrNotFound, spec)
	}
	sid, err := ldapsync.DecodeSID(e.GetEqualFoldRawAttributeValue(attrObjectSid))
	if err != nil {
		return "", fmt.Errorf("group %s (%s) is not a security principal: %w", spec, e.DN, err)
	}
	return sid, nil
}

// ExtendedDN is a DN value returned under the extended-DN control:
// "<GUID=…>;<SID=…>;CN=…". Missing parts are empty.
type ExtendedDN struct {
	GUID string
	SID  string // canonical string form
	DN   string
}

// parseExtendedDN parses an extended DN in string (flag 1) or hex (flag 0)
// form; a plain DN is accepted as is.
func parseExtendedDN(s string) (ExtendedDN, error) {
	var x ExtendedDN
	for strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return ExtendedDN{}, errors.New("unterminated <…> component")
		}
		key, val, ok := strings.Cut(s[1:end], "=")
		if !ok {
			return ExtendedDN{}, fmt.Errorf("component %q has no '='", s[:end+1])
		}
		if err := x.set(key, val); err != nil {
			return ExtendedDN{}, err
		}
		s = s[end+1:]
		if s == "" {
			break
		}
		if s[0] != ';' {
			return ExtendedDN{}, fmt.Errorf("want ';' after component, got %q", s[:1])
		}
		s = s[1:]
	}
	x.DN = s
	return x, nil
}

func (x *ExtendedDN) set(key, val string) error {
	switch strings.ToUpper(key) {
	case "GUID":
		x.GUID = val
	case "SID":
		sid, err := sidFromExtended(val)
		if err != nil {
			return err
		}
		x.SID = sid
	}
	return nil
}

// sidFromExtended accepts "S-1-…" or the hex encoding of a binary SID.
func sidFromExtended(v string) (string, error) {
	if looksLikeSID(v) {
		return ldapsync.CanonicalSID(v)
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return "", fmt.Errorf("%w: %q is neither S-1-… nor hex", ErrBadSID, v)
	}
	return ldapsync.DecodeSID(b)
}

func extendedDNControl() ldap.Control {
	// ExtendedDnRequestValue ::= SEQUENCE { Flag INTEGER } with Flag 1: string form.
	return ldap.NewControlString(OIDExtendedDN, false, "\x30\x03\x02\x01\x01")
}

// normalizeEntryDN strips extended components from an entry's own DN (AD
// and Samba apply the extended-DN control to it as well).
func normalizeEntryDN(e *ldap.Entry) {
	if x, err := parseExtendedDN(e.DN); err == nil {
		e.DN = x.DN
	}
}

// rdnValue returns the value of the first RDN of dn ("" if unparsable).
func rdnValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return ""
	}
	return d.RDNs[0].Attributes[0].Value
}

// dnEqual compares DNs case-insensitively, tolerating spacing differences.
func dnEqual(a, b string) bool {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}

// --- LDAP operations: check ctx first, wrap errors as *LDAPError. ---

func rodcSearch(ctx context.Context, c Conn, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := c.Search(req)
	if err != nil {
		return nil, wrapLDAP("search", req.BaseDN, err)
	}
	return res, nil
}

// searchBase reads one entry; a missing entry is an error matching ErrNotFound.
func rodcSearchBase(ctx context.Context, c Conn, dn string, attrs []string, extDN bool) (*ldap.Entry, error) {
	var ctrls []ldap.Control
	if extDN {
		ctrls = []ldap.Control{extendedDNControl()}
	}
	res, err := rodcSearch(ctx, c, ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", attrs, ctrls))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dn)
	}
	e := res.Entries[0]
	if extDN {
		normalizeEntryDN(e)
	}
	return e, nil
}

// searchBaseOpt is searchBase with a missing entry reported as (nil, nil).
func rodcSearchBaseOpt(ctx context.Context, c Conn, dn string, attrs []string, extDN bool) (*ldap.Entry, error) {
	e, err := rodcSearchBase(ctx, c, dn, attrs, extDN)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return e, err
}

func rodcAdd(ctx context.Context, c Conn, req *ldap.AddRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapLDAP("add", req.DN, c.Add(req))
}

func rodcModify(ctx context.Context, c Conn, req *ldap.ModifyRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapLDAP("modify", req.DN, c.Modify(req))
}

func rodcModifyDN(ctx context.Context, c Conn, req *ldap.ModifyDNRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapLDAP("modrdn", req.DN, c.ModifyDN(req))
}

func rodcDel(ctx context.Context, c Conn, dn string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapLDAP("delete", dn, c.Del(ldap.NewDelRequest(dn, nil)))
}

// looksLikeSID reports whether s is meant as a string SID rather than a DN.
func looksLikeSID(s string) bool {
	return len(s) > 2 && (s[0] == 'S' || s[0] == 's') && s[1] == '-'
}
