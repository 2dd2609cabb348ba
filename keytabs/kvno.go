package keytabs

// EncodeKVNO returns the 32-bit key version number of a key of an RODC
// krbtgt_N account: the RODC number N (msDS-SecondaryKrbTgtNumber) in the
// high 16 bits and the key version in the low 16 bits. An rodcNumber of 0
// gives the plain version, as for every other account.
func EncodeKVNO(rodcNumber, version uint16) uint32 {
	return uint32(rodcNumber)<<16 | uint32(version)
}

// SplitKVNO is the inverse of EncodeKVNO.
func SplitKVNO(kvno uint32) (rodcNumber, version uint16) {
	return uint16(kvno >> 16), uint16(kvno)
}

// WireKVNO returns the value to put in gokrb5's EncryptedData.KVNO (an int):
// the kvno reinterpreted as a two's-complement int32, as Windows and Samba
// put it on the wire. For an RODC number of 32768 or more the result is
// negative, so the DER INTEGER stays 4 bytes long instead of growing to 5.
func WireKVNO(kvno uint32) int {
	return int(int32(kvno))
}

// FromWireKVNO is the inverse of WireKVNO. It keeps the low 32 bits, so it
// also accepts the unsigned (5-byte INTEGER) form some encoders produce.
func FromWireKVNO(v int) uint32 {
	return uint32(v)
}
