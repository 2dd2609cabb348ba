package slapd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestHarness(t *testing.T) {
	s := Start(t, Options{LDAPS: true})
	alice, err := s.AddUser(User{UID: "alice", DisplayName: "Alice", KrbPrincipalName: "alice@EXAMPLE.TEST", SambaSID: "S-1-5-21-1-2-3-1104"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.AddGroup("staff", alice)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Attr(alice, "memberOf"); err != nil || len(v) != 1 || !strings.EqualFold(v[0], g) {
		t.Fatalf("memberof overlay: memberOf=%v, %v", v, err)
	}
	uuid, err := s.EntryUUID(alice)
	if err != nil || len(uuid) != 36 {
		t.Fatalf("entryUUID %q %v", uuid, err)
	}
	if err := s.Lock(alice); err != nil {
		t.Fatalf("ppolicy lock: %v", err)
	}
	if v, _ := s.Attr(alice, "pwdAccountLockedTime"); len(v) != 1 {
		t.Fatalf("pwdAccountLockedTime = %v", v)
	}
	if err := s.Unlock(alice); err != nil {
		t.Fatal(err)
	}
	renamed, err := s.Rename(alice, "uid=alice2")
	if err != nil {
		t.Fatal(err)
	}
	if u2, err := s.EntryUUID(renamed); err != nil || u2 != uuid {
		t.Fatalf("entryUUID after rename %q, want %q (%v)", u2, uuid, err)
	}
	if m, _ := s.Attr(g, "member"); len(m) != 1 || !strings.EqualFold(m[0], renamed) {
		t.Fatalf("refint after rename: member=%v", m)
	}
	if err := s.Delete(renamed); err != nil {
		t.Fatal(err)
	}
	// refint updates referring entries from a background task: poll.
	var m []string
	for range 100 {
		if m, _ = s.Attr(g, "member"); len(m) == 1 && m[0] == s.Nobody() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(m) != 1 || m[0] != s.Nobody() {
		t.Fatalf("refint after delete: member=%v", m)
	}

	// ldaps with the generated CA.
	tc, err := s.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(tc))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	if err := c.Bind(s.RootDN, s.RootPW); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestBulkLoadAndStop(t *testing.T) {
	s := Start(t, Options{})
	var ldif bytes.Buffer
	if err := s.WriteBulkLDIF(&ldif, 50, 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.BulkLoad(ctx, &ldif); err != nil {
		t.Fatal(err)
	}
	c, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(s.People, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=inetOrgPerson)", []string{"memberOf", "entryUUID", "entryCSN"}, nil), 20)
	c.Close()
	if err != nil || len(res.Entries) != 50 {
		t.Fatalf("bulk users: %d, %v", len(res.Entries), err)
	}
	if res.Entries[7].GetAttributeValue("entryUUID") == "" || len(res.Entries[7].GetAttributeValues("memberOf")) != 1 ||
		res.Entries[7].GetAttributeValue("entryCSN") != "20240101000012.000000Z#000000#000#000000" {
		t.Errorf("bulk entry: %+v", res.Entries[7].Attributes)
	}
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("slapd pid %d still there after Stop: %v", pid, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
