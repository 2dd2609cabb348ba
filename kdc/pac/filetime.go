package pac

import "time"

// FileTime is a Windows FILETIME (MS-DTYP 2.3.3): the number of 100-ns
// intervals since 1601-01-01 00:00:00 UTC.
type FileTime uint64

const (
	// FileTimeNotSet is the FILETIME MS-PAC uses for "not set" (0).
	FileTimeNotSet FileTime = 0
	// FileTimeNever is the FILETIME MS-PAC uses for "never"
	// (0x7FFFFFFFFFFFFFFF), e.g. LogoffTime of an account that never expires.
	FileTimeNever FileTime = 0x7FFFFFFFFFFFFFFF
)

// unixEpochFileTime is 1970-01-01 expressed as a FILETIME.
const unixEpochFileTime = 116444736000000000

// FileTimeFromTime converts t to a FILETIME, keeping 100-ns precision. Times
// before 1601 become FileTimeNotSet, times beyond the FILETIME range
// FileTimeNever.
func FileTimeFromTime(t time.Time) FileTime {
	sec := t.Unix()
	if sec < -unixEpochFileTime/1e7 {
		return FileTimeNotSet
	}
	if sec >= int64(FileTimeNever/1e7)-unixEpochFileTime/1e7 {
		return FileTimeNever
	}
	return FileTime(uint64(sec*1e7+unixEpochFileTime) + uint64(t.Nanosecond()/100))
}

// Time converts f to a UTC time.Time. FileTimeNever maps to a date in the
// year 30828, as Windows does.
func (f FileTime) Time() time.Time {
	sec := int64(f/1e7) - unixEpochFileTime/1e7
	ns := int64(f%1e7) * 100
	return time.Unix(sec, ns).UTC()
}
