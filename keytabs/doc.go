// Package keytabs holds Kerberos long-term keys for passkdc: it reads and
// writes MIT keytab files (format 0x502, and 0x501 for reading), derives keys
// from passwords (string2key with Active Directory and MIT salts), encodes the
// 32-bit key version numbers of read-only domain controller (RODC) krbtgt
// accounts, groups the keys of one principal across versions (KeySet) and
// checks that files holding keys are private to their owner.
//
// The package never logs key bytes and writes key files with mode 0600.
package keytabs
