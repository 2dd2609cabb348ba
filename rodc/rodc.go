package rodc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// Conn is the subset of *ldap.Conn (go-ldap v3) that RODC provisioning
// uses; tests substitute a fake.
type Conn interface {
	Search(*ldap.SearchRequest) (*ldap.SearchResult, error)
	Add(*ldap.AddRequest) error
	Modify(*ldap.ModifyRequest) error
	ModifyDN(*ldap.ModifyDNRequest) error
	Del(*ldap.DelRequest) error
}

var _ Conn = (*ldap.Conn)(nil)

// LDAP controls and flags used for RODC objects.
const (
	// OIDRODCDCPromo is LDAP_SERVER_RODC_DCPROMO_OID ([MS-ADTS] 3.1.1.3.4.1.23):
	// on the add of a user it makes the DC assign msDS-SecondaryKrbTgtNumber,
	// sAMAccountName krbtgt_<N> and a random key.
	OIDRODCDCPromo = "1.2.840.113556.1.4.1341"
	// OIDExtendedDN is LDAP_SERVER_EXTENDED_DN_OID: DN values come back as
	// "<GUID=…>;<SID=…>;DN".
	OIDExtendedDN = "1.2.840.113556.1.4.529"

	uacAccountDisable         = 0x00000002
	uacNormalAccount          = 0x00000200
	uacWorkstationTrust       = 0x00001000
	uacServerTrust            = 0x00002000
	uacPartialSecretsAccount  = 0x04000000
	uacRODCComputer           = uacPartialSecretsAccount | uacWorkstationTrust // 0x04001000
	uacKrbtgtAccount          = uacNormalAccount | uacAccountDisable           // 514
	ridAllowedRODCReplication = 571
	ridDeniedRODCReplication  = 572
)

// Attribute names.
const (
	attrSAM          = "sAMAccountName"
	attrUAC          = "userAccountControl"
	attrObjectClass  = "objectClass"
	attrObjectSid    = "objectSid"
	attrDescription  = "description"
	attrKrbTgtLink   = "msDS-KrbTgtLink"
	attrKrbTgtLinkBl = "msDS-KrbTgtLinkBl"
	attrRevealGroup  = "msDS-RevealOnDemandGroup"
	attrNeverReveal  = "msDS-NeverRevealGroup"
	attrKrbTgtNumber = "msDS-SecondaryKrbTgtNumber"
	attrKeyVersion   = "msDS-KeyVersionNumber"
	attrServerRefBL  = "serverReferenceBL"
	attrUnicodePwd   = "unicodePwd"
	attrName         = "name"
)

// RODCOptions configures Provision.
type RODCOptions struct {
	// Name is the computer name of the (mock) RODC, e.g. "PASSKDC": 1–15
	// letters, digits or hyphens, not all digits.
	Name string
	// BaseDN is the domain naming context; empty: the RootDSE's
	// defaultNamingContext.
	BaseDN string
	// AllowGroups go into msDS-RevealOnDemandGroup: SIDs ("S-1-…") or DNs.
	// Empty: the domain's Allowed RODC Password Replication Group (RID 571).
	AllowGroups []string
	// DenyGroups go into msDS-NeverRevealGroup, always in addition to the
	// defaults: Denied RODC Password Replication Group (RID 572) and the
	// builtin Administrators, Account, Server, Print and Backup Operators
	// (S-1-5-32-544, -548, -549, -550, -551). The defaults cannot be dropped
	// here: a partial TGT for an administrator must never be issuable.
	DenyGroups []string
	// Description is set on the computer object.
	Description string
}

// RODC describes the mock RODC objects in the directory.
type RODC struct {
	// Name is the computer name (without "$").
	Name string
	// BaseDN is the domain naming context the objects live in.
	BaseDN string
	// ComputerDN is CN=<Name>,OU=Domain Controllers,<base>.
	ComputerDN string
	// KrbtgtDN is the linked krbtgt account (normally CN=krbtgt_<N>,CN=Users,<base>).
	KrbtgtDN string
	// KrbtgtGUID is the linked krbtgt account's objectGUID (from the
	// extended DN of msDS-KrbTgtLink); DRSUAPI replication names it by this.
	KrbtgtGUID string
	// KrbtgtName is the krbtgt account's sAMAccountName, "krbtgt_<N>"; its
	// keys are fetched with FetchKey (`passkdc rodc fetch-key`), or on a
	// Samba DC exported with `samba-tool domain exportkeytab FILE
	// --principal=krbtgt_<N>` and loaded with `passkdc keytab import`.
	KrbtgtName string
	// Number is msDS-SecondaryKrbTgtNumber, the RODC number N.
	Number uint16
	// KeyVersion is the krbtgt's msDS-KeyVersionNumber; 0 if not readable.
	KeyVersion uint32
	// Allow holds the msDS-RevealOnDemandGroup members as SIDs.
	Allow []string
	// Deny holds the msDS-NeverRevealGroup members as SIDs.
	Deny []string
	// GroupNames maps the SIDs in Allow and Deny to the name (RDN value) the
	// directory reported, where known.
	GroupNames map[string]string
	// Created is true when this Provision call created the objects.
	Created bool
	// Problems lists inconsistencies; when not empty the accompanying error
	// wraps ErrIncomplete.
	Problems []string
	// Warnings lists harmless oddities (e.g. the krbtgt entry not renamed).
	Warnings []string
	// Unresolved lists msDS-NeverRevealGroup values that could not be
	// resolved to a SID. Such a policy fails closed: Decide refuses every
	// user while it is not empty, since passkdc cannot tell who is in the
	// group the DC will protect.
	Unresolved []string
}

// KeytabKVNO is the key version number a keytab entry or a ticket's
// EncryptedData carries for this RODC's key: Number<<16 | (KeyVersion & 0xFFFF).
func (r *RODC) KeytabKVNO() uint32 {
	return uint32(r.Number)<<16 | r.KeyVersion&0xFFFF
}

var computerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,14}$`)

func validateName(name string) error {
	if !computerNameRE.MatchString(name) || strings.Trim(name, "0123456789") == "" {
		return fmt.Errorf("RODC name %q: want 1-15 letters, digits or hyphens, not all digits", name)
	}
	return nil
}

// rodcNames derives the DNs and marker strings for an RODC.
type rodcNames struct {
	name, base, computerDN, tmpKrbtgtDN, marker string
}

func newRODCNames(name, base string) rodcNames {
	return rodcNames{
		name:        name,
		base:        base,
		computerDN:  "CN=" + name + ",OU=Domain Controllers," + base,
		tmpKrbtgtDN: "CN=krbtgt_" + name + ",CN=Users," + base,
		// The krbtgt account's description ties it to its computer even when
		// the link is missing, so Remove can find leftovers.
		marker: "krbtgt for " + name + "$, created by passkdc",
	}
}

// resolveBase returns base, or the RootDSE defaultNamingContext when empty.
func resolveBase(ctx context.Context, c Conn, base string) (string, error) {
	if base != "" {
		if _, err := ldap.ParseDN(base); err != nil {
			return "", fmt.Errorf("base DN %q: %w", base, err)
		}
		return base, nil
	}
	e, err := rodcSearchBase(ctx, c, "", []string{"defaultNamingContext"}, false)
	if err != nil {
		return "", fmt.Errorf("reading RootDSE: %w", err)
	}
	base = e.GetEqualFoldAttributeValue("defaultNamingContext")
	if base == "" {
		return "", errors.New("RootDSE has no defaultNamingContext; set the base DN")
	}
	return base, nil
}

// Provision creates the mock RODC: the computer object in OU=Domain
// Controllers with its password replication policy, then the krbtgt account
// (added with the critical RODC_DCPROMO control, so the DC assigns the number
// N, the name krbtgt_N and a random key), links them with msDS-KrbTgtLink and
// renames the krbtgt entry to CN=krbtgt_N.
//
// It is idempotent and never modifies existing objects:
//   - a complete RODC of that name is reported as it is (Created false; the
//     options are not re-applied, compare Allow/Deny yourself);
//   - a half-done one (e.g. a computer without krbtgt link, a leftover krbtgt
//     account) yields an error wrapping ErrIncomplete that lists what is wrong,
//     together with the partial description; Remove (`passkdc rodc remove`)
//     cleans every such state. Repair is deliberately not attempted: no key
//     of a half-done RODC can have been exported yet, so starting afresh
//     loses nothing, while patching objects of unknown origin could;
//   - a computer of that name that is not an RODC (or is a real, promoted
//     one) yields ErrNotRODC; an account NAME$ elsewhere yields ErrExists.
//
// Groups are resolved before anything is written; an unknown SID is an error
// (AD would silently create a foreign-security-principal for it). If a step
// after the computer add fails, the objects created by this call are deleted
// again; if that rollback fails too, the error also wraps ErrIncomplete.
//
// ctx is checked between LDAP operations; each operation is bounded by the
// connection's own timeout (see Dial).
func Provision(ctx context.Context, c Conn, opts RODCOptions) (*RODC, error) {
	if err := validateName(opts.Name); err != nil {
		return nil, err
	}
	base, err := resolveBase(ctx, c, opts.BaseDN)
	if err != nil {
		return nil, err
	}
	n := newRODCNames(opts.Name, base)
	st, err := inspect(ctx, c, n)
	if err != nil {
		return nil, err
	}
	if st.computer != nil || len(st.rodc.Problems) > 0 {
		return st.rodc, st.err()
	}
	if err := checkAccountFree(ctx, c, n); err != nil {
		return nil, err
	}
	pol, err := resolvePolicy(ctx, c, base, opts)
	if err != nil {
		return nil, err
	}
	p := &provisioner{c: c, n: n}
	if err := p.run(ctx, pol, opts.Description); err != nil {
		return nil, p.rollback(err)
	}
	r, err := Show(ctx, c, opts.Name, base)
	if err != nil {
		return r, fmt.Errorf("provisioned RODC %s but reading it back failed: %w", opts.Name, err)
	}
	r.Created = true
	return r, nil
}

// checkAccountFree fails with ErrExists when NAME$ exists anywhere.
func checkAccountFree(ctx context.Context, c Conn, n rodcNames) error {
	filter := "(" + attrSAM + "=" + ldap.EscapeFilter(n.name+"$") + ")"
	res, err := rodcSearch(ctx, c, ldap.NewSearchRequest(n.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, filter, []string{attrSAM}, nil))
	if err != nil {
		return err
	}
	if len(res.Entries) > 0 {
		return fmt.Errorf("%w: account %s$ already exists at %s (not in OU=Domain Controllers); choose another RODC name",
			ErrExists, n.name, res.Entries[0].DN)
	}
	e, err := rodcSearchBaseOpt(ctx, c, n.tmpKrbtgtDN, []string{attrSAM}, false)
	if err != nil {
		return err
	}
	if e != nil {
		return fmt.Errorf("%w: %s already exists and was not created by passkdc for this RODC; remove or rename it",
			ErrExists, n.tmpKrbtgtDN)
	}
	return nil
}

// provisioner runs the creation steps and remembers what it created.
type provisioner struct {
	c         Conn
	n         rodcNames
	computer  bool   // computer object created
	krbtgtDN  string // krbtgt entry created (current DN)
	krbtgtSAM string
}

func (p *provisioner) run(ctx context.Context, pol rodcPolicy, description string) error {
	if err := p.addComputer(ctx, pol, description); err != nil {
		return err
	}
	if err := p.addKrbtgt(ctx); err != nil {
		return err
	}
	number, sam, err := p.readNumber(ctx)
	if err != nil {
		return err
	}
	p.krbtgtSAM = sam
	mod := ldap.NewModifyRequest(p.n.computerDN, nil)
	mod.Replace(attrKrbTgtLink, []string{p.krbtgtDN})
	if err := rodcModify(ctx, p.c, mod); err != nil {
		return fmt.Errorf("linking %s to %s: %w", p.n.computerDN, p.krbtgtDN, err)
	}
	newRDN := "CN=krbtgt_" + strconv.Itoa(int(number))
	if err := rodcModifyDN(ctx, p.c, ldap.NewModifyDNRequest(p.krbtgtDN, newRDN, true, "")); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", p.krbtgtDN, newRDN, err)
	}
	p.krbtgtDN = newRDN + ",CN=Users," + p.n.base
	return nil
}

func (p *provisioner) addComputer(ctx context.Context, pol rodcPolicy, description string) error {
	if description == "" {
		description = "passkdc partial-TGT issuer (read-only DC object, not a real domain controller)"
	}
	req := ldap.NewAddRequest(p.n.computerDN, nil)
	req.Attribute(attrObjectClass, []string{"computer"})
	req.Attribute(attrSAM, []string{p.n.name + "$"})
	req.Attribute(attrUAC, []string{strconv.Itoa(uacRODCComputer)})
	req.Attribute(attrDescription, []string{description})
	req.Attribute(attrRevealGroup, sidRefs(pol.allow))
	req.Attribute(attrNeverReveal, sidRefs(pol.deny))
	if err := rodcAdd(ctx, p.c, req); err != nil {
		return fmt.Errorf("creating RODC computer: %w", err)
	}
	p.computer = true
	return nil
}

func sidRefs(sids []string) []string {
	out := make([]string, len(sids))
	for i, s := range sids {
		out[i] = "<SID=" + s + ">"
	}
	return out
}

func (p *provisioner) addKrbtgt(ctx context.Context) error {
	ctrl := ldap.NewControlString(OIDRODCDCPromo, true, "")
	req := ldap.NewAddRequest(p.n.tmpKrbtgtDN, []ldap.Control{ctrl})
	req.Attribute(attrObjectClass, []string{"user"})
	req.Attribute(attrUAC, []string{strconv.Itoa(uacKrbtgtAccount)})
	req.Attribute("showInAdvancedViewOnly", []string{"TRUE"})
	req.Attribute(attrDescription, []string{p.n.marker})
	if err := rodcAdd(ctx, p.c, req); err != nil {
		return fmt.Errorf("creating RODC krbtgt account (RODC_DCPROMO control): %w", err)
	}
	p.krbtgtDN = p.n.tmpKrbtgtDN
	return nil
}

// readNumber reads back what the DC assigned to the new krbtgt account.
func (p *provisioner) readNumber(ctx context.Context) (uint16, string, error) {
	e, err := rodcSearchBase(ctx, p.c, p.krbtgtDN, []string{attrKrbTgtNumber, attrSAM}, false)
	if err != nil {
		return 0, "", fmt.Errorf("reading new krbtgt account: %w", err)
	}
	number, err := parseKrbtgtNumber(e.GetEqualFoldAttributeValue(attrKrbTgtNumber))
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w (does the DC honour the RODC_DCPROMO control?)", p.krbtgtDN, err)
	}
	sam := e.GetEqualFoldAttributeValue(attrSAM)
	if want := "krbtgt_" + strconv.Itoa(int(number)); !strings.EqualFold(sam, want) {
		return 0, "", fmt.Errorf("%s: sAMAccountName %q, want %q", p.krbtgtDN, sam, want)
	}
	return number, sam, nil
}

func parseKrbtgtNumber(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("no msDS-SecondaryKrbTgtNumber")
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("msDS-SecondaryKrbTgtNumber %q out of range 1..65535", s)
	}
	return uint16(v), nil
}

// rollback deletes what this call created (krbtgt first, then computer) and
// returns cause, joined with ErrIncomplete if the cleanup failed. It runs
// even when ctx is done: leaving half an RODC behind is worse.
func (p *provisioner) rollback(cause error) error {
	var errs []error
	if p.krbtgtDN != "" {
		if err := rodcDel(context.Background(), p.c, p.krbtgtDN); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if p.computer {
		if err := rodcDel(context.Background(), p.c, p.n.computerDN); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("provisioning RODC %s failed, created objects were removed again: %w", p.n.name, cause)
	}
	return fmt.Errorf("provisioning RODC %s failed: %w; cleanup failed too (%w: %w); run `passkdc rodc remove --name %s`",
		p.n.name, cause, ErrIncomplete, errors.Join(errs...), p.n.name)
}

// Show reads the RODC called name under baseDN (empty: from the RootDSE).
// No computer and no leftover krbtgt account: ErrNotFound. Inconsistent
// objects: the partial description (with Problems) and an error wrapping
// ErrIncomplete. A computer of that name that is not a passkdc RODC:
// ErrNotRODC.
func Show(ctx context.Context, c Conn, name, baseDN string) (*RODC, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	base, err := resolveBase(ctx, c, baseDN)
	if err != nil {
		return nil, err
	}
	st, err := inspect(ctx, c, newRODCNames(name, base))
	if err != nil {
		return nil, err
	}
	if st.computer == nil && len(st.rodc.Problems) == 0 {
		return nil, fmt.Errorf("%w: no RODC %s (%s)", ErrNotFound, name, st.rodc.ComputerDN)
	}
	return st.rodc, st.err()
}

// Remove deletes the HTTP service accounts ProvisionHTTPService created for
// the RODC (their description names it), then the RODC's krbtgt account(s)
// and its computer object, including every leftover of an interrupted
// Provision (an unlinked krbtgt account whose description names this RODC).
// It refuses to delete anything
// that does not look like a passkdc RODC object (ErrNotRODC, or an error for
// a linked account that is not an RODC krbtgt). Nothing there: ErrNotFound,
// which callers wanting idempotence treat as success.
func Remove(ctx context.Context, c Conn, name, baseDN string) (*Removal, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	base, err := resolveBase(ctx, c, baseDN)
	if err != nil {
		return nil, err
	}
	st, err := inspect(ctx, c, newRODCNames(name, base))
	if err != nil {
		return nil, err
	}
	https, err := httpServicesOf(ctx, c, base, name)
	if err != nil {
		return nil, err
	}
	if st.computer == nil && len(st.orphans) == 0 && len(https) == 0 {
		return nil, fmt.Errorf("%w: no RODC %s (%s)", ErrNotFound, name, st.rodc.ComputerDN)
	}
	if st.linked != nil && st.linkedUnsafe != "" {
		return nil, fmt.Errorf("refusing to remove RODC %s: %s", name, st.linkedUnsafe)
	}
	r := &Removal{}
	// The HTTP service accounts go first: found by their marker, they are
	// found again by a second run if anything after them fails.
	for _, h := range https {
		if err := rodcDel(ctx, c, h.DN); err != nil && !errors.Is(err, ErrNotFound) {
			return r, fmt.Errorf("removing the HTTP service account %s (%s, SPN %s) of RODC %s; the RODC is not removed yet%s: %w",
				h.Account, h.DN, strings.Join(h.SPNs, ", "), name, deleteHint(err), err)
		}
		r.HTTPServices = append(r.HTTPServices, h)
	}
	var targets []string
	if st.linked != nil {
		targets = append(targets, st.linked.DN)
	}
	targets = append(targets, st.orphans...)
	if st.computer != nil {
		targets = append(targets, st.computer.DN)
	}
	for _, dn := range targets {
		if err := rodcDel(ctx, c, dn); err != nil && !errors.Is(err, ErrNotFound) {
			return r, fmt.Errorf("removing RODC %s%s: %w", name, deleteHint(err), err)
		}
	}
	r.RODC = len(targets) > 0
	return r, nil
}

// Removal is what Remove deleted.
type Removal struct {
	// RODC: the RODC computer object, its krbtgt_N account or the
	// leftovers of an interrupted provision were deleted.
	RODC bool
	// HTTPServices are the HTTP service accounts deleted with it (those
	// ProvisionHTTPService created for this RODC).
	HTTPServices []HTTPServiceAccount
}

// deleteHint names the fix for a delete the directory refused for rights.
func deleteHint(err error) string {
	var le *LDAPError
	if errors.As(err, &le) && le.Code == ldap.LDAPResultInsufficientAccessRights {
		return " (the bind account may not delete it: bind as a domain admin with --bind-dn, then run rodc remove again)"
	}
	return ""
}

// Rotate gives the RODC's krbtgt account a new key: it replaces unicodePwd
// with a random password. AD and Samba ignore the value for a krbtgt account
// and generate a random key themselves (verified on Samba 4.17: the same
// password twice yields two different keys, neither derived from it), but
// the replace bumps msDS-KeyVersionNumber; Rotate checks that it increased
// and returns the new state. The connection must be encrypted (LDAPS or
// StartTLS) and bound as an account allowed to reset passwords.
//
// The new key is not readable over LDAP: RotateAndFetch fetches it over
// DRSUAPI from the same DC and merges it into the keytab, keeping the
// previous key for tickets issued under it.
func Rotate(ctx context.Context, c Conn, name, baseDN string) (*RODC, error) {
	before, err := Show(ctx, c, name, baseDN)
	if err != nil {
		return before, err
	}
	pw, err := randomPassword()
	if err != nil {
		return nil, err
	}
	mod := ldap.NewModifyRequest(before.KrbtgtDN, nil)
	mod.Replace(attrUnicodePwd, []string{pw})
	if err := rodcModify(ctx, c, mod); err != nil {
		var le *LDAPError
		if errors.As(err, &le) && le.Code == ldap.LDAPResultUnwillingToPerform {
			return nil, fmt.Errorf("resetting key of %s (is the connection encrypted?): %w", before.KrbtgtName, err)
		}
		return nil, fmt.Errorf("resetting key of %s: %w", before.KrbtgtName, err)
	}
	after, err := Show(ctx, c, name, before.BaseDN)
	if err != nil {
		return after, fmt.Errorf("key of %s reset, reading it back failed: %w", before.KrbtgtName, err)
	}
	if before.KeyVersion != 0 && after.KeyVersion <= before.KeyVersion {
		return after, fmt.Errorf("key of %s reset but msDS-KeyVersionNumber did not increase (%d -> %d)",
			before.KrbtgtName, before.KeyVersion, after.KeyVersion)
	}
	if after.KeyVersion == 0 {
		after.Warnings = append(after.Warnings, "msDS-KeyVersionNumber not readable: cannot confirm the new key version")
	}
	return after, nil
}

// randomPassword returns a quoted, UTF-16LE encoded unicodePwd value: 32
// random bytes in base64 plus one character of each class, which satisfies
// any complexity rule should the DC check it.
func randomPassword() (string, error) {
	pw, err := randomPlain()
	if err != nil {
		return "", err
	}
	return encodeUnicodePwd(pw), nil
}

// randomPlain is the password of randomPassword before its encoding.
func randomPlain() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(buf) + "aA1!", nil
}

// encodeUnicodePwd encodes a password as AD's unicodePwd wants it: the
// password in double quotes, UTF-16 little-endian.
func encodeUnicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		b[2*i] = byte(v)
		b[2*i+1] = byte(v >> 8)
	}
	return string(b)
}
