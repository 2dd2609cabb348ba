package kdc

import (
	"strings"

	"github.com/passkdc/passkdc/kdc/pac"
)

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
	auth := pac.FileTimeFromTime(iss.AuthTime)
	domain := client.SID.Domain()
	user := client.SID
	li := &pac.LogonInfo{
		LogonTime: auth, LogoffTime: pac.FileTimeNever, KickOffTime: pac.FileTimeNever,
		PasswordMustChange: pac.FileTimeNever,
		EffectiveName:      client.Name, FullName: client.DisplayName,
		UserID: user.RID(), PrimaryGroupID: client.PrimaryGroupRID,
		LogonServer: opts.LogonServer, LogonDomainName: client.netBIOSDomain(),
		LogonDomainID: &domain, UserAccountControl: pac.UserNormalAccount,
	}
	if li.PrimaryGroupID == 0 {
		li.PrimaryGroupID = pac.RIDDomainUsers
	}
	li.GroupIDs, li.ExtraSIDs = splitGroups(domain, li.PrimaryGroupID, client.Groups)
	p := &pac.PAC{
		LogonInfo:  li,
		ClientInfo: pac.ClientInfo{ClientID: auth, Name: client.Name},
		UPNDNS:     upnDNS(client),
	}
	if isKrbtgt(iss) {
		p.Attributes = &pac.AttributesInfo{Flags: pac.AttributePACWasRequested}
		p.RequesterSID = &user
	}
	return p
}

// splitGroups puts the primary group first, then domain groups as RIDs and
// other SIDs as ExtraSids, without duplicates.
func splitGroups(domain pac.SID, primary uint32, groups []pac.SID) ([]pac.GroupMembership, []pac.SIDAndAttributes) {
	rids := []pac.GroupMembership{{RelativeID: primary, Attributes: pac.DefaultGroupAttributes}}
	seenRID := map[uint32]bool{primary: true}
	var extra []pac.SIDAndAttributes
	seenSID := map[string]bool{}
	for _, g := range groups {
		if g.Domain().Equal(domain) {
			if !seenRID[g.RID()] {
				seenRID[g.RID()] = true
				rids = append(rids, pac.GroupMembership{RelativeID: g.RID(), Attributes: pac.DefaultGroupAttributes})
			}
			continue
		}
		if !seenSID[g.String()] {
			seenSID[g.String()] = true
			extra = append(extra, pac.SIDAndAttributes{SID: g, Attributes: pac.DefaultGroupAttributes})
		}
	}
	return rids, extra
}

func upnDNS(client Principal) *pac.UPNDNSInfo {
	dns := client.dnsDomain()
	u := &pac.UPNDNSInfo{
		UPN:           client.UPN,
		DNSDomainName: strings.ToUpper(dns),
		SAMName:       client.Name,
		SID:           &client.SID,
	}
	if u.UPN == "" {
		u.UPN = client.Name + "@" + strings.ToLower(dns)
		u.Flags |= pac.UPNFlagConstructed
	}
	return u
}

func isKrbtgt(iss *Issued) bool {
	return len(iss.SName.NameString) == 2 && iss.SName.NameString[0] == "krbtgt"
}
