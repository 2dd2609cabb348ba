package pac

import (
	"encoding/binary"
	"testing"

	gopac "github.com/jcmturner/gokrb5/v8/pac"

	"github.com/passkdc/passkdc/kdc/sid"
)

// This file converts gokrb5's decoded PAC structures into ours, so tests can
// decode reference bytes with an independent decoder and re-encode them.

type gokrb5SID interface{ String() string }

func sidFromString(t *testing.T, s gokrb5SID) *SID {
	t.Helper()
	str := s.String()
	if str == "S-1-0" || str == "S-1-" || str == "" {
		return nil
	}
	sid, err := sid.Parse(str)
	if err != nil {
		t.Fatalf("gokrb5 SID %q: %v", str, err)
	}
	return &sid
}

func logonInfoFromGokrb5(t *testing.T, k *gopac.KerbValidationInfo) *LogonInfo {
	t.Helper()
	ft := func(v interface{ MSEpoch() int64 }) FileTime { return FileTime(uint64(v.MSEpoch())) }
	l := &LogonInfo{
		LogonTime: ft(k.LogOnTime), LogoffTime: ft(k.LogOffTime), KickOffTime: ft(k.KickOffTime),
		PasswordLastSet: ft(k.PasswordLastSet), PasswordCanChange: ft(k.PasswordCanChange),
		PasswordMustChange: ft(k.PasswordMustChange),
		EffectiveName:      k.EffectiveName.Value, FullName: k.FullName.Value,
		LogonScript: k.LogonScript.Value, ProfilePath: k.ProfilePath.Value,
		HomeDirectory: k.HomeDirectory.Value, HomeDirectoryDrive: k.HomeDirectoryDrive.Value,
		LogonCount: k.LogonCount, BadPasswordCount: k.BadPasswordCount,
		UserID: k.UserID, PrimaryGroupID: k.PrimaryGroupID, UserFlags: k.UserFlags,
		LogonServer: k.LogonServer.Value, LogonDomainName: k.LogonDomainName.Value,
		Reserved1:          k.Reserved1,
		UserAccountControl: k.UserAccountControl, SubAuthStatus: k.SubAuthStatus,
		LastSuccessfulILogon: ft(k.LastSuccessfulILogon), LastFailedILogon: ft(k.LastFailedILogon),
		FailedILogonCount: k.FailedILogonCount, Reserved3: k.Reserved3,
	}
	copy(l.UserSessionKey[:8], k.UserSessionKey.CypherBlock[0].Data[:])
	copy(l.UserSessionKey[8:], k.UserSessionKey.CypherBlock[1].Data[:])
	for _, g := range k.GroupIDs {
		l.GroupIDs = append(l.GroupIDs, GroupMembership{g.RelativeID, g.Attributes})
	}
	for _, g := range k.ResourceGroupIDs {
		l.ResourceGroupIDs = append(l.ResourceGroupIDs, GroupMembership{g.RelativeID, g.Attributes})
	}
	for _, e := range k.ExtraSIDs {
		s := sidFromString(t, &e.SID)
		if s == nil {
			t.Fatalf("gokrb5 returned an empty extra SID")
		}
		l.ExtraSIDs = append(l.ExtraSIDs, SIDAndAttributes{*s, e.Attributes})
	}
	if k.LogonDomainID.Revision != 0 {
		l.LogonDomainID = sidFromString(t, &k.LogonDomainID)
	}
	if k.ResourceGroupDomainSID.Revision != 0 {
		l.ResourceGroupDomainSID = sidFromString(t, &k.ResourceGroupDomainSID)
	}
	return l
}

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
