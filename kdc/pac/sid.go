package pac

import "github.com/passkdc/passkdc/kdc/sid"

// SID is a Windows security identifier; the PAC's buffers carry it in its
// binary form (package sid owns the encoding).
type SID = sid.SID
