package kdc

import (
	"strings"
	"unicode/utf8"

	"github.com/passkdc/passkdc/kdc/pac"
)

// pacContent is a PAC and the buffers its pointers refer to, so that
// building the sign-in PAC is one allocation.
type pacContent struct {
	pac    pac.PAC
	logon  pac.LogonInfo
	upn    pac.UPNDNSInfo
	attrs  pac.AttributesInfo
	user   pac.SID
	domain pac.SID
	// primary backs GroupIDs when the primary group is the only one.
	primary [1]pac.GroupMembership
}

// buildPAC assembles the PAC content for client:
//   - LOGON_INFO: logon time = authtime, logoff/kickoff/password-must-change
//     "never", user RID, primary group (513 by default) and the groups of
//     client.Groups in the user's domain as GroupIds (attributes 7), other
//     groups as ExtraSids, logon domain NetBIOS name and SID,
//     UserAccountControl USER_NORMAL_ACCOUNT;
//   - CLIENT_INFO: authtime and the cname;
//   - UPN_DNS_INFO with the S extension (SAM name and SID), the DNS domain
//     upper-cased as Samba writes it;
//   - for a ticket to krbtgt only, as a DC does: ATTRIBUTES_INFO
//     (PAC_WAS_REQUESTED) and REQUESTER_SID (the user SID).
func buildPAC(client Principal, iss *Issued, opts IssueOptions) *pac.PAC {
	c := new(pacContent)
	auth := pac.FileTimeFromTime(iss.AuthTime)
	c.user = client.SID
	// The domain SID shares the user's sub-authorities (nothing writes them).
	n := len(c.user.SubAuthorities)
	c.domain = pac.SID{Revision: c.user.Revision, IdentifierAuthority: c.user.IdentifierAuthority,
		SubAuthorities: c.user.SubAuthorities[: n-1 : n-1]}
	c.logon = pac.LogonInfo{
		LogonTime: auth, LogoffTime: pac.FileTimeNever, KickOffTime: pac.FileTimeNever,
		PasswordMustChange: pac.FileTimeNever,
		EffectiveName:      client.Name, FullName: client.DisplayName,
		UserID: c.user.RID(), PrimaryGroupID: client.PrimaryGroupRID,
		LogonServer: opts.LogonServer, LogonDomainName: client.netBIOSDomain(),
		LogonDomainID: &c.domain, UserAccountControl: pac.UserNormalAccount,
	}
	if c.logon.PrimaryGroupID == 0 {
		c.logon.PrimaryGroupID = pac.RIDDomainUsers
	}
	c.logon.GroupIDs, c.logon.ExtraSIDs = splitGroups(c.primary[:0], c.domain, c.logon.PrimaryGroupID, client.Groups)
	c.upn = upnDNS(client)
	c.upn.SID = &c.user
	c.pac = pac.PAC{
		LogonInfo:  &c.logon,
		ClientInfo: pac.ClientInfo{ClientID: auth, Name: client.Name},
		UPNDNS:     &c.upn,
	}
	if isKrbtgt(iss) {
		c.attrs = pac.AttributesInfo{Flags: pac.AttributePACWasRequested}
		c.pac.Attributes = &c.attrs
		c.pac.RequesterSID = &c.user
	}
	return &c.pac
}

// splitGroups puts the primary group first, then domain groups as RIDs and
// other SIDs as ExtraSids, without duplicates (the first of each kept, in
// order), appending the RIDs to rids. The duplicates are found by scanning
// what is kept so far: a token holds tens of groups, and the PAC a few
// thousand at most.
func splitGroups(rids []pac.GroupMembership, domain pac.SID, primary uint32,
	groups []pac.SID) ([]pac.GroupMembership, []pac.SIDAndAttributes) {
	rids = append(rids, pac.GroupMembership{RelativeID: primary, Attributes: pac.DefaultGroupAttributes})
	var extra []pac.SIDAndAttributes
	for _, g := range groups {
		if g.InDomain(domain) {
			if !hasRID(rids, g.RID()) {
				rids = append(rids, pac.GroupMembership{RelativeID: g.RID(), Attributes: pac.DefaultGroupAttributes})
			}
			continue
		}
		if !hasSID(extra, g) {
			extra = append(extra, pac.SIDAndAttributes{SID: g, Attributes: pac.DefaultGroupAttributes})
		}
	}
	return rids, extra
}

func hasRID(rids []pac.GroupMembership, rid uint32) bool {
	for _, r := range rids {
		if r.RelativeID == rid {
			return true
		}
	}
	return false
}

func hasSID(sids []pac.SIDAndAttributes, s pac.SID) bool {
	for _, e := range sids {
		if e.SID.Equal(s) {
			return true
		}
	}
	return false
}

// upnDNS is the UPN_DNS_INFO of client but for its SID.
func upnDNS(client Principal) pac.UPNDNSInfo {
	dns := client.dnsDomain()
	u := pac.UPNDNSInfo{
		UPN:           client.UPN,
		DNSDomainName: strings.ToUpper(dns),
		SAMName:       client.Name,
	}
	if u.UPN == "" {
		u.UPN = constructedUPN(client.Name, dns)
		u.Flags |= pac.UPNFlagConstructed
	}
	return u
}

// constructedUPN is name + "@" + strings.ToLower(dns), built in one
// allocation when dns is ASCII.
func constructedUPN(name, dns string) string {
	var b strings.Builder
	b.Grow(len(name) + 1 + len(dns))
	b.WriteString(name)
	b.WriteByte('@')
	for i := 0; i < len(dns); i++ {
		c := dns[i]
		if c >= utf8.RuneSelf { // the rest from a rune boundary, as ToLower maps it
			b.WriteString(strings.ToLower(dns[i:]))
			break
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isKrbtgt(iss *Issued) bool {
	return len(iss.SName.NameString) == 2 && iss.SName.NameString[0] == "krbtgt"
}
