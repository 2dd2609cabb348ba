package krbcred

import (
	"errors"
	"fmt"

	"github.com/passkdc/passkdc/kdc/ccache"
)

// ErrNoPrincipal is returned when converting an Info without a client or
// service name to a cache credential (MIT's krb5_rd_cred refuses it too).
var ErrNoPrincipal = errors.New("krbcred: ticket-info lacks a client or service principal")

// InfoFromCredential returns the KrbCredInfo describing a cache credential.
func InfoFromCredential(c *ccache.Credential) Info {
	return Info{
		Key:       c.Key,
		PRealm:    c.Client.Realm,
		PName:     c.Client.PrincipalName(),
		Flags:     c.Flags,
		AuthTime:  c.AuthTime,
		StartTime: c.StartTime,
		EndTime:   c.EndTime,
		RenewTill: c.RenewTill,
		SRealm:    c.Server.Realm,
		SName:     c.Server.PrincipalName(),
		CAddr:     c.Addresses,
	}
}

// Credential returns the cache credential for this Info and its ticket DER,
// as krb5_rd_cred builds it: no authorization data, no second ticket.
func (i *Info) Credential(ticket []byte) (ccache.Credential, error) {
	if len(i.PName.NameString) == 0 || len(i.SName.NameString) == 0 {
		return ccache.Credential{}, ErrNoPrincipal
	}
	return ccache.Credential{
		Client:    ccache.NewPrincipal(i.PRealm, i.PName),
		Server:    ccache.NewPrincipal(i.SRealm, i.SName),
		Key:       i.Key,
		AuthTime:  i.AuthTime,
		StartTime: i.StartTime,
		EndTime:   i.EndTime,
		RenewTill: i.RenewTill,
		Flags:     i.Flags,
		Addresses: i.CAddr,
		Ticket:    append([]byte(nil), ticket...),
	}, nil
}

// ToCCache converts every ticket of c to a cache credential.
func ToCCache(c *Cred) ([]ccache.Credential, error) {
	if len(c.Tickets) != len(c.Infos) {
		return nil, fmt.Errorf("%w: %d tickets but %d infos", ErrInvalid, len(c.Tickets), len(c.Infos))
	}
	out := make([]ccache.Credential, len(c.Infos))
	for n := range c.Infos {
		cred, err := c.Infos[n].Credential(c.Tickets[n])
		if err != nil {
			return nil, fmt.Errorf("ticket %d: %w", n, err)
		}
		out[n] = cred
	}
	return out, nil
}

// NewCCache returns a version-4 cache holding c's tickets, whose default
// principal is the client of the first ticket.
func NewCCache(c *Cred) (*ccache.CCache, error) {
	creds, err := ToCCache(c)
	if err != nil {
		return nil, err
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%w: no tickets", ErrInvalid)
	}
	return &ccache.CCache{Version: ccache.Version4, DefaultPrincipal: creds[0].Client, Credentials: creds}, nil
}

// FromCCache builds a Cred from cache credentials. Configuration entries
// and credentials without a ticket are refused; filter with
// (*ccache.CCache).Entries first.
func FromCCache(creds []ccache.Credential) (*Cred, error) {
	c := &Cred{}
	for n := range creds {
		if creds[n].IsConfig() {
			return nil, fmt.Errorf("%w: credential %d is a configuration entry", ErrInvalid, n)
		}
		if err := checkTicketDER(creds[n].Ticket); err != nil {
			return nil, fmt.Errorf("%w: credential %d: %w", ErrInvalid, n, err)
		}
		c.Tickets = append(c.Tickets, append([]byte(nil), creds[n].Ticket...))
		c.Infos = append(c.Infos, InfoFromCredential(&creds[n]))
	}
	return c, nil
}
