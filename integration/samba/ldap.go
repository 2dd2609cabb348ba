package samba

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// defaultLDAPTimeout bounds each LDAP request when ctx has no deadline.
const defaultLDAPTimeout = 30 * time.Second

// BaseDN returns the domain's naming context, DC=corp,DC=example,DC=test.
func (dc *DC) BaseDN() string {
	parts := strings.Split(strings.ToLower(dc.opts.Realm), ".")
	for i, p := range parts {
		parts[i] = "DC=" + p
	}
	return strings.Join(parts, ",")
}

// UsersDN returns CN=Users under BaseDN, where CreateUser and CreateGroup
// put new entries by default.
func (dc *DC) UsersDN() string { return "CN=Users," + dc.BaseDN() }

// DomainSID returns the domain SID (S-1-5-21-...).
func (dc *DC) DomainSID() string { return dc.domainSID }

// LDAP returns a connection over LDAPS to IP:636, verified against the DC's
// CA and bound as administrator. ctx bounds the dial and bind; the caller
// closes the connection.
func (dc *DC) LDAP(ctx context.Context) (*ldap.Conn, error) {
	return dc.LDAPBind(ctx, dc.AdminBindDN(), dc.opts.AdminPassword)
}

// LDAPBind is LDAP with another identity (a DN or user@REALM).
func (dc *DC) LDAPBind(ctx context.Context, bindDN, password string) (*ldap.Conn, error) {
	cfg, err := dc.TLSConfig()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", dc.LDAPSAddr())
	if err != nil {
		return nil, fmt.Errorf("samba: ldaps dial: %w", err)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("samba: ldaps handshake: %w", err)
	}
	conn := ldap.NewConn(tc, true)
	conn.Start()
	conn.SetTimeout(requestTimeout(ctx))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.Bind(bindDN, password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("samba: ldap bind as %s: %w", bindDN, err)
	}
	return conn, nil
}

func requestTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return defaultLDAPTimeout
}

// withLDAP runs fn on a fresh administrator connection that is closed when
// fn returns or ctx ends.
func (dc *DC) withLDAP(ctx context.Context, fn func(*ldap.Conn) error) error {
	conn, err := dc.LDAP(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return fn(conn)
}

// loadDomainSID reads objectSid of the naming context.
func (dc *DC) loadDomainSID(ctx context.Context) error {
	return dc.withLDAP(ctx, func(c *ldap.Conn) error {
		e, err := readEntry(c, dc.BaseDN(), "objectSid")
		if err != nil {
			return err
		}
		sid, err := DecodeSID(e.GetRawAttributeValue("objectSid"))
		if err != nil {
			return fmt.Errorf("samba: domain SID: %w", err)
		}
		dc.domainSID = sid
		return nil
	})
}

// readEntry reads one entry by DN (or <SID=...>/<GUID=...>) with a base search.
func readEntry(c *ldap.Conn, dn string, attrs ...string) (*ldap.Entry, error) {
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", attrs, nil))
	if err != nil {
		return nil, fmt.Errorf("samba: read %s: %w", dn, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("samba: read %s: %d entries", dn, len(res.Entries))
	}
	return res.Entries[0], nil
}
