package pac

import (
	"encoding/binary"
	"fmt"
)

// Group attributes (MS-PAC 2.2.1, MS-DTYP 2.4.2.4 SE_GROUP_*).
const (
	SEGroupMandatory        uint32 = 0x00000001
	SEGroupEnabledByDefault uint32 = 0x00000002
	SEGroupEnabled          uint32 = 0x00000004
	// SEGroupResource marks a domain-local (resource) group; ExtraSids
	// entries from another domain carry it in Windows PACs.
	SEGroupResource uint32 = 0x20000000
	// DefaultGroupAttributes is MANDATORY|ENABLED_BY_DEFAULT|ENABLED (7),
	// what a DC puts on ordinary group memberships.
	DefaultGroupAttributes = SEGroupMandatory | SEGroupEnabledByDefault | SEGroupEnabled
)

// UserFlags bits of KERB_VALIDATION_INFO (MS-PAC 2.5).
const (
	// UserFlagExtraSIDs (D, 0x20): ExtraSids is populated.
	UserFlagExtraSIDs uint32 = 0x00000020
	// UserFlagResourceGroups (H, 0x200): ResourceGroupIds is populated.
	UserFlagResourceGroups uint32 = 0x00000200
)

// UserAccountControl values (MS-SAMR 2.2.1.12 USER_*).
const (
	// UserNormalAccount is USER_NORMAL_ACCOUNT.
	UserNormalAccount uint32 = 0x00000010
)

// Well-known RIDs.
const (
	// RIDDomainUsers is the RID of "Domain Users", the default primary group.
	RIDDomainUsers uint32 = 513
)

// GroupMembership is a GROUP_MEMBERSHIP (MS-PAC 2.2.2): a RID relative to the
// logon domain (or the resource group domain) and its SE_GROUP_* attributes.
type GroupMembership struct {
	RelativeID uint32
	Attributes uint32
}

// SIDAndAttributes is a KERB_SID_AND_ATTRIBUTES (MS-PAC 2.2.1).
type SIDAndAttributes struct {
	SID        SID
	Attributes uint32
}

// LogonInfo is KERB_VALIDATION_INFO (MS-PAC 2.5), the PAC_LOGON_INFO buffer
// (type 1). Counts (GroupCount, SidCount, ResourceGroupCount) are derived
// from the slices.
type LogonInfo struct {
	LogonTime          FileTime
	LogoffTime         FileTime
	KickOffTime        FileTime
	PasswordLastSet    FileTime
	PasswordCanChange  FileTime
	PasswordMustChange FileTime

	EffectiveName      string
	FullName           string
	LogonScript        string
	ProfilePath        string
	HomeDirectory      string
	HomeDirectoryDrive string

	LogonCount       uint16
	BadPasswordCount uint16
	UserID           uint32
	PrimaryGroupID   uint32
	GroupIDs         []GroupMembership
	// UserFlags is written as given, with UserFlagExtraSIDs and
	// UserFlagResourceGroups added when the matching slices are non-empty.
	UserFlags       uint32
	UserSessionKey  [16]byte
	LogonServer     string
	LogonDomainName string
	// LogonDomainID is the domain SID; nil encodes a null pointer.
	LogonDomainID *SID

	Reserved1            [2]uint32
	UserAccountControl   uint32
	SubAuthStatus        uint32
	LastSuccessfulILogon FileTime
	LastFailedILogon     FileTime
	FailedILogonCount    uint32
	Reserved3            uint32

	ExtraSIDs []SIDAndAttributes
	// ResourceGroupDomainSID is nil (null pointer) when there are no
	// resource groups.
	ResourceGroupDomainSID *SID
	ResourceGroupIDs       []GroupMembership
}

// commonTypeHeader is the type serialization version 1 common header
// (MS-RPCE 2.2.6.1): version 1, little-endian (0x10), header length 8,
// filler 0xCCCCCCCC.
const commonTypeHeader = "\x01\x10\x08\x00\xcc\xcc\xcc\xcc"

// MarshalNDR encodes l as the PAC_LOGON_INFO buffer: the MS-RPCE type
// serialization version 1 common header, the private header
// (ObjectBufferLength, a multiple of 8, and 4 zero filler bytes), then the
// NDR stream of a unique pointer to KERB_VALIDATION_INFO, padded with zeros
// to a multiple of 8.
func (l *LogonInfo) MarshalNDR() ([]byte, error) {
	return l.appendNDR(make([]byte, 0, l.sizeHint()))
}

// appendNDR appends the buffer MarshalNDR returns to b, which must end on an
// 8-byte boundary: NDR aligns relative to the stream's start, which is 16
// bytes (the headers) after the buffer's.
func (l *LogonInfo) appendNDR(b []byte) ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	const headers = 16
	start := len(b)
	var w ndrWriter
	w.init(append(b, make([]byte, headers)...))
	w.pointer(true, deferredReferent{kind: refLogonInfo, li: l})
	if err := w.flush(); err != nil {
		return nil, err
	}
	w.align(8)
	copy(w.buf[start:], commonTypeHeader)
	binary.LittleEndian.PutUint32(w.buf[start+8:], uint32(len(w.buf)-start-headers))
	binary.LittleEndian.PutUint32(w.buf[start+12:], 0)
	return w.buf, nil
}

// sizeHint is about the size of l's buffer (the fixed part, the strings'
// UTF-16 and headers, the SIDs and group lists), so that it is written
// without growing its buffer.
func (l *LogonInfo) sizeHint() int {
	n := 16 + 512 + 12*len(l.GroupIDs) + 12*len(l.ResourceGroupIDs) + 48*len(l.ExtraSIDs)
	for _, s := range [...]string{l.EffectiveName, l.FullName, l.LogonScript, l.ProfilePath, l.HomeDirectory,
		l.HomeDirectoryDrive, l.LogonServer, l.LogonDomainName} {
		n += 16 + 2*len(s)
	}
	return n
}

func (l *LogonInfo) validate() error {
	for _, s := range []*SID{l.LogonDomainID, l.ResourceGroupDomainSID} {
		if s != nil {
			if err := s.Validate(); err != nil {
				return err
			}
		}
	}
	for _, e := range l.ExtraSIDs {
		if err := e.SID.Validate(); err != nil {
			return err
		}
	}
	if len(l.ResourceGroupIDs) > 0 && l.ResourceGroupDomainSID == nil {
		return fmt.Errorf("%w: resource groups without ResourceGroupDomainSID", ErrInvalidValue)
	}
	return nil
}

// writeScalars writes KERB_VALIDATION_INFO in field order; pointer referents
// are queued and written by flush in the same order.
func (l *LogonInfo) writeScalars(w *ndrWriter) error {
	for _, t := range []FileTime{l.LogonTime, l.LogoffTime, l.KickOffTime,
		l.PasswordLastSet, l.PasswordCanChange, l.PasswordMustChange} {
		w.fileTime(t)
	}
	if err := writeStrings(w, false, l.EffectiveName, l.FullName, l.LogonScript,
		l.ProfilePath, l.HomeDirectory, l.HomeDirectoryDrive); err != nil {
		return err
	}
	w.u16(l.LogonCount)
	w.u16(l.BadPasswordCount)
	w.u32(l.UserID)
	w.u32(l.PrimaryGroupID)
	writeGroups(w, l.GroupIDs)
	w.u32(l.userFlags())
	w.align(4)
	w.buf = append(w.buf, l.UserSessionKey[:]...)
	if err := writeStrings(w, true, l.LogonServer, l.LogonDomainName); err != nil {
		return err
	}
	writeSIDPointer(w, l.LogonDomainID)
	w.u32(l.Reserved1[0])
	w.u32(l.Reserved1[1])
	w.u32(l.UserAccountControl)
	w.u32(l.SubAuthStatus)
	w.fileTime(l.LastSuccessfulILogon)
	w.fileTime(l.LastFailedILogon)
	w.u32(l.FailedILogonCount)
	w.u32(l.Reserved3)
	writeExtraSIDs(w, l.ExtraSIDs)
	writeSIDPointer(w, l.ResourceGroupDomainSID)
	writeGroups(w, l.ResourceGroupIDs)
	return nil
}

func (l *LogonInfo) userFlags() uint32 {
	f := l.UserFlags
	if len(l.ExtraSIDs) > 0 {
		f |= UserFlagExtraSIDs
	}
	if len(l.ResourceGroupIDs) > 0 {
		f |= UserFlagResourceGroups
	}
	return f
}

func writeStrings(w *ndrWriter, withTerm bool, ss ...string) error {
	for _, s := range ss {
		if err := w.unicodeString(s, withTerm); err != nil {
			return err
		}
	}
	return nil
}

// writeGroups writes Count and a pointer to a conformant array of
// GROUP_MEMBERSHIP (null when empty).
func writeGroups(w *ndrWriter, g []GroupMembership) {
	w.u32(uint32(len(g)))
	w.pointer(len(g) > 0, deferredReferent{kind: refGroups, groups: g})
}

// writeGroupArray writes the referent of writeGroups' pointer.
func writeGroupArray(w *ndrWriter, g []GroupMembership) {
	w.u32(uint32(len(g)))
	for _, m := range g {
		w.u32(m.RelativeID)
		w.u32(m.Attributes)
	}
}

func writeSIDPointer(w *ndrWriter, s *SID) {
	w.pointer(s != nil, deferredReferent{kind: refSID, sid: s})
}

// writeExtraSIDs writes SidCount and a pointer to a conformant array of
// KERB_SID_AND_ATTRIBUTES whose SID pointers' referents follow the array.
func writeExtraSIDs(w *ndrWriter, e []SIDAndAttributes) {
	w.u32(uint32(len(e)))
	w.pointer(len(e) > 0, deferredReferent{kind: refExtraSIDs, extra: e})
}

// writeExtraSIDArray writes the referent of writeExtraSIDs' pointer.
func writeExtraSIDArray(w *ndrWriter, e []SIDAndAttributes) {
	w.u32(uint32(len(e)))
	for i := range e {
		writeSIDPointer(w, &e[i].SID)
		w.u32(e[i].Attributes)
	}
}
