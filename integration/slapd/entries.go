package slapd

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// User is a test account under ou=people: an inetOrgPerson with the optional
// passkdcTestAccount attributes.
type User struct {
	UID              string
	CN               string // default UID
	DisplayName      string
	KrbPrincipalName string // "" = none
	SambaSID         string // "" = none
	Password         string // "" = none
}

// UserDN is the DN a user with this uid gets.
func (s *Server) UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + s.People }

// GroupDN is the DN a group with this cn gets.
func (s *Server) GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + s.Groups }

// Nobody is the placeholder member of empty groups (groupOfNames needs one).
func (s *Server) Nobody() string { return "cn=nobody," + s.Suffix }

func (s *Server) do(fn func(c *ldap.Conn) error) error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// AddUser adds u and returns its DN.
func (s *Server) AddUser(u User) (string, error) {
	dn := s.UserDN(u.UID)
	req := ldap.NewAddRequest(dn, nil)
	cn := u.CN
	if cn == "" {
		cn = u.UID
	}
	req.Attribute("objectClass", []string{"inetOrgPerson", "passkdcTestAccount"})
	req.Attribute("uid", []string{u.UID})
	req.Attribute("cn", []string{cn})
	req.Attribute("sn", []string{cn})
	optional := map[string]string{
		"displayName": u.DisplayName, "krbPrincipalName": u.KrbPrincipalName,
		"sambaSID": u.SambaSID, "userPassword": u.Password,
	}
	for name, v := range optional {
		if v != "" {
			req.Attribute(name, []string{v})
		}
	}
	return dn, s.do(func(c *ldap.Conn) error { return wrap("add "+dn, c.Add(req)) })
}

// AddGroup adds a groupOfNames with these member DNs (Nobody when none).
func (s *Server) AddGroup(cn string, members ...string) (string, error) {
	dn := s.GroupDN(cn)
	if len(members) == 0 {
		members = []string{s.Nobody()}
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{cn})
	req.Attribute("member", members)
	return dn, s.do(func(c *ldap.Conn) error { return wrap("add "+dn, c.Add(req)) })
}

// AddMember adds member to the group's member values.
func (s *Server) AddMember(groupDN, member string) error {
	return s.Modify(groupDN, func(m *ldap.ModifyRequest) { m.Add("member", []string{member}) })
}

// RemoveMember removes member from the group's member values.
func (s *Server) RemoveMember(groupDN, member string) error {
	return s.Modify(groupDN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{member}) })
}

// Modify applies the changes edit adds to a modify request on dn.
func (s *Server) Modify(dn string, edit func(*ldap.ModifyRequest)) error {
	req := ldap.NewModifyRequest(dn, nil)
	edit(req)
	return s.do(func(c *ldap.Conn) error { return wrap("modify "+dn, c.Modify(req)) })
}

// Replace sets attribute attr of dn to values (none: delete the attribute).
func (s *Server) Replace(dn, attr string, values ...string) error {
	return s.Modify(dn, func(m *ldap.ModifyRequest) { m.Replace(attr, values) })
}

// Lock sets the ppolicy pwdAccountLockedTime to "locked until unlocked".
func (s *Server) Lock(dn string) error { return s.Replace(dn, "pwdAccountLockedTime", "000001010000Z") }

// Unlock removes pwdAccountLockedTime.
func (s *Server) Unlock(dn string) error { return s.Replace(dn, "pwdAccountLockedTime") }

// Rename gives dn the new RDN (e.g. "uid=bob2") in the same parent and returns the new DN.
func (s *Server) Rename(dn, newRDN string) (string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) < 2 {
		return "", fmt.Errorf("slapd: rename: bad DN %q", dn)
	}
	parent := dn[len(dnFirstRDN(dn))+1:]
	req := ldap.NewModifyDNRequest(dn, newRDN, true, "")
	return newRDN + "," + parent, s.do(func(c *ldap.Conn) error { return wrap("rename "+dn, c.ModifyDN(req)) })
}

// dnFirstRDN returns the text of the first RDN of dn (up to the first unescaped comma).
func dnFirstRDN(dn string) string {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dn[:i]
		}
	}
	return dn
}

// Delete removes dn.
func (s *Server) Delete(dn string) error {
	return s.do(func(c *ldap.Conn) error { return wrap("delete "+dn, c.Del(ldap.NewDelRequest(dn, nil))) })
}

// Attr reads one attribute (operational ones too) of dn.
func (s *Server) Attr(dn, attr string) ([]string, error) {
	var vals []string
	err := s.do(func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{attr}, nil))
		if err != nil {
			return wrap("read "+dn, err)
		}
		if len(res.Entries) == 1 {
			vals = res.Entries[0].GetAttributeValues(attr)
		}
		return nil
	})
	return vals, err
}

// EntryUUID returns dn's entryUUID.
func (s *Server) EntryUUID(dn string) (string, error) {
	v, err := s.Attr(dn, "entryUUID")
	if err != nil {
		return "", err
	}
	if len(v) != 1 {
		return "", fmt.Errorf("slapd: %s has no entryUUID", dn)
	}
	return v[0], nil
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("slapd: %s: %w", what, err)
	}
	return nil
}

// BulkEpoch is when the first entry WriteBulkLDIF writes was last changed;
// entry k (groups first, then users) has entryCSN and modifyTimestamp k
// seconds later: the entries look as if created over time long ago, as in a
// directory whose accounts were added over the years.
var BulkEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// bulkStamp returns the operational attributes of bulk entry k.
func bulkStamp(k int) string {
	t := BulkEpoch.Add(time.Duration(k) * time.Second)
	ts := t.Format("20060102150405Z")
	return "entryCSN: " + t.Format("20060102150405.000000Z") + "#000000#000#000000\n" +
		"modifyTimestamp: " + ts + "\ncreateTimestamp: " + ts + "\n"
}

// WriteBulkLDIF writes users (uid user000000…) and groups (cn group0000…)
// for slapadd. User i is a member of group i%groups; every group g>0 is also a
// member of group g/2 (a nesting tree). memberOf values are written on both
// sides because slapadd runs no overlays.
func (s *Server) WriteBulkLDIF(w io.Writer, users, groups int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for g := range groups {
		fmt.Fprintf(bw, "dn: %s\nobjectClass: groupOfNames\ncn: group%04d\n%s", s.GroupDN(fmt.Sprintf("group%04d", g)), g, bulkStamp(g))
		if g > 0 {
			fmt.Fprintf(bw, "memberOf: %s\n", s.GroupDN(fmt.Sprintf("group%04d", g/2)))
		}
		for child := 2 * g; child <= 2*g+1 && child < groups; child++ {
			if child > 0 {
				fmt.Fprintf(bw, "member: %s\n", s.GroupDN(fmt.Sprintf("group%04d", child)))
			}
		}
		for u := g; u < users; u += groups {
			fmt.Fprintf(bw, "member: %s\n", s.UserDN(fmt.Sprintf("user%06d", u)))
		}
		fmt.Fprintf(bw, "member: %s\n\n", s.Nobody())
	}
	for u := range users {
		uid := fmt.Sprintf("user%06d", u)
		fmt.Fprintf(bw, "dn: %s\nobjectClass: inetOrgPerson\nobjectClass: passkdcTestAccount\nuid: %s\ncn: User %d\nsn: %d\ndisplayName: User %d\n%s",
			s.UserDN(uid), uid, u, u, u, bulkStamp(groups+u))
		if groups > 0 {
			fmt.Fprintf(bw, "memberOf: %s\n", s.GroupDN(fmt.Sprintf("group%04d", u%groups)))
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}
