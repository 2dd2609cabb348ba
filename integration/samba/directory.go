package samba

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// userAccountControl bits (MS-ADTS 2.2.16).
const (
	UACAccountDisable = 0x0002
	UACNormalAccount  = 0x0200
)

// groupTypeGlobalSecurity is a global security group (MS-ADTS 2.2.12).
const groupTypeGlobalSecurity = "-2147483646"

// User is an account created by CreateUser.
type User struct {
	Name string // sAMAccountName
	DN   string
	SID  string // S-1-5-21-...-RID
	GUID string // objectGUID, canonical string form
}

// Group is a group created by CreateGroup.
type Group struct {
	Name string
	DN   string
	SID  string
	GUID string
}

// entrySpec collects EntryOption settings.
type entrySpec struct {
	container string
	disabled  bool
	attrs     map[string][]string
}

// EntryOption adjusts an entry made by CreateUser or CreateGroup.
type EntryOption func(*entrySpec)

// InContainer creates the entry under dn instead of CN=Users.
func InContainer(dn string) EntryOption { return func(s *entrySpec) { s.container = dn } }

// Disabled creates a user with ACCOUNTDISABLE set (userAccountControl 514).
func Disabled() EntryOption { return func(s *entrySpec) { s.disabled = true } }

// WithAttribute adds an attribute to the new entry (e.g. givenName, mail,
// description). It replaces a value the harness would set itself.
func WithAttribute(name string, values ...string) EntryOption {
	return func(s *entrySpec) { s.attrs[name] = values }
}

func (dc *DC) spec(opts []EntryOption) *entrySpec {
	s := &entrySpec{container: dc.UsersDN(), attrs: map[string][]string{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// CreateUser adds an enabled user (userAccountControl 512) with
// sAMAccountName and cn name, userPrincipalName name@REALM and the given
// password (unicodePwd, set over LDAPS), and returns its DN, SID and GUID.
func (dc *DC) CreateUser(ctx context.Context, name, password string, opts ...EntryOption) (User, error) {
	s := dc.spec(opts)
	uac := UACNormalAccount
	if s.disabled {
		uac |= UACAccountDisable
	}
	dn := "CN=" + ldap.EscapeDN(name) + "," + s.container
	req := ldap.NewAddRequest(dn, nil)
	attrs := map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user"},
		"sAMAccountName":     {name},
		"userPrincipalName":  {name + "@" + dc.opts.Realm},
		"unicodePwd":         {unicodePwd(password)},
		"userAccountControl": {strconv.Itoa(uac)},
	}
	for k, v := range s.attrs {
		attrs[k] = v
	}
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	var u User
	err := dc.withLDAP(ctx, func(c *ldap.Conn) error {
		if err := c.Add(req); err != nil {
			return fmt.Errorf("samba: add user %s: %w", name, err)
		}
		var err error
		u.DN, u.SID, u.GUID, err = identity(c, dn)
		return err
	})
	u.Name = name
	return u, err
}

// CreateGroup adds a global security group named name.
func (dc *DC) CreateGroup(ctx context.Context, name string, opts ...EntryOption) (Group, error) {
	s := dc.spec(opts)
	dn := "CN=" + ldap.EscapeDN(name) + "," + s.container
	req := ldap.NewAddRequest(dn, nil)
	attrs := map[string][]string{
		"objectClass":    {"top", "group"},
		"sAMAccountName": {name},
		"groupType":      {groupTypeGlobalSecurity},
	}
	for k, v := range s.attrs {
		attrs[k] = v
	}
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	var g Group
	err := dc.withLDAP(ctx, func(c *ldap.Conn) error {
		if err := c.Add(req); err != nil {
			return fmt.Errorf("samba: add group %s: %w", name, err)
		}
		var err error
		g.DN, g.SID, g.GUID, err = identity(c, dn)
		return err
	})
	g.Name = name
	return g, err
}

// identity reads back an entry's DN (as the server spells it), SID and GUID.
func identity(c *ldap.Conn, dn string) (gotDN, sid, guid string, err error) {
	e, err := readEntry(c, dn, "objectSid", "objectGUID")
	if err != nil {
		return "", "", "", err
	}
	if sid, err = DecodeSID(e.GetRawAttributeValue("objectSid")); err != nil {
		return "", "", "", fmt.Errorf("samba: %s: %w", dn, err)
	}
	if guid, err = DecodeGUID(e.GetRawAttributeValue("objectGUID")); err != nil {
		return "", "", "", fmt.Errorf("samba: %s: %w", dn, err)
	}
	return e.DN, sid, guid, nil
}

// unicodePwd encodes a password as AD wants it: the quoted password in
// UTF-16LE.
func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return string(b)
}

// AddMember adds memberDN to the group groupDN.
func (dc *DC) AddMember(ctx context.Context, groupDN, memberDN string) error {
	return dc.modify(ctx, groupDN, func(m *ldap.ModifyRequest) { m.Add("member", []string{memberDN}) })
}

// RemoveMember removes memberDN from the group groupDN.
func (dc *DC) RemoveMember(ctx context.Context, groupDN, memberDN string) error {
	return dc.modify(ctx, groupDN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{memberDN}) })
}

// SetPassword resets an account's password as administrator.
func (dc *DC) SetPassword(ctx context.Context, dn, password string) error {
	return dc.modify(ctx, dn, func(m *ldap.ModifyRequest) { m.Replace("unicodePwd", []string{unicodePwd(password)}) })
}

// SetAttribute replaces an attribute's values (no values deletes it).
func (dc *DC) SetAttribute(ctx context.Context, dn, name string, values ...string) error {
	return dc.modify(ctx, dn, func(m *ldap.ModifyRequest) { m.Replace(name, values) })
}

func (dc *DC) modify(ctx context.Context, dn string, change func(*ldap.ModifyRequest)) error {
	req := ldap.NewModifyRequest(dn, nil)
	change(req)
	return dc.withLDAP(ctx, func(c *ldap.Conn) error {
		if err := c.Modify(req); err != nil {
			return fmt.Errorf("samba: modify %s: %w", dn, err)
		}
		return nil
	})
}

// SetEnabled clears (true) or sets (false) ACCOUNTDISABLE in the account's
// userAccountControl, keeping its other bits.
func (dc *DC) SetEnabled(ctx context.Context, dn string, enabled bool) error {
	return dc.withLDAP(ctx, func(c *ldap.Conn) error {
		e, err := readEntry(c, dn, "userAccountControl")
		if err != nil {
			return err
		}
		uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
		if err != nil {
			return fmt.Errorf("samba: %s: userAccountControl: %w", dn, err)
		}
		if enabled {
			uac &^= UACAccountDisable
		} else {
			uac |= UACAccountDisable
		}
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("userAccountControl", []string{strconv.FormatInt(uac, 10)})
		if err := c.Modify(req); err != nil {
			return fmt.Errorf("samba: modify %s: %w", dn, err)
		}
		return nil
	})
}

// DeleteEntry deletes a leaf entry.
func (dc *DC) DeleteEntry(ctx context.Context, dn string) error {
	return dc.withLDAP(ctx, func(c *ldap.Conn) error {
		if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			return fmt.Errorf("samba: delete %s: %w", dn, err)
		}
		return nil
	})
}

// RenameUser renames an account: its RDN becomes CN=newName (same
// container), and sAMAccountName and userPrincipalName follow. objectGUID
// and objectSid do not change. It returns the new DN.
func (dc *DC) RenameUser(ctx context.Context, dn, newName string) (string, error) {
	rdn := "CN=" + ldap.EscapeDN(newName)
	var newDN string
	err := dc.withLDAP(ctx, func(c *ldap.Conn) error {
		if err := c.ModifyDN(ldap.NewModifyDNRequest(dn, rdn, true, "")); err != nil {
			return fmt.Errorf("samba: rename %s: %w", dn, err)
		}
		parent, err := parentDN(dn)
		if err != nil {
			return err
		}
		req := ldap.NewModifyRequest(rdn+","+parent, nil)
		req.Replace("sAMAccountName", []string{newName})
		req.Replace("userPrincipalName", []string{newName + "@" + dc.opts.Realm})
		if err := c.Modify(req); err != nil {
			return fmt.Errorf("samba: rename %s: account names: %w", req.DN, err)
		}
		e, err := readEntry(c, req.DN, "distinguishedName")
		if err != nil {
			return err
		}
		newDN = e.DN // as the server spells it
		return nil
	})
	return newDN, err
}

// parentDN drops the first RDN of dn.
func parentDN(dn string) (string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) < 2 {
		return "", fmt.Errorf("samba: DN %q has no parent", dn)
	}
	parts := make([]string, 0, len(parsed.RDNs)-1)
	for _, r := range parsed.RDNs[1:] {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ","), nil
}

// Entry reads attributes of one entry as administrator; dn may also be
// <SID=S-1-...> or <GUID=...>.
func (dc *DC) Entry(ctx context.Context, dn string, attrs ...string) (*ldap.Entry, error) {
	var e *ldap.Entry
	err := dc.withLDAP(ctx, func(c *ldap.Conn) error {
		var err error
		e, err = readEntry(c, dn, attrs...)
		return err
	})
	return e, err
}

// MemberOf returns the DNs of the groups dn is a direct member of.
func (dc *DC) MemberOf(ctx context.Context, dn string) ([]string, error) {
	e, err := dc.Entry(ctx, dn, "memberOf")
	if err != nil {
		return nil, err
	}
	return e.GetAttributeValues("memberOf"), nil
}
