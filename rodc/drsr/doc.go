// Package drsr reads the keys of passkdc's RODC krbtgt_N account back from a
// domain controller over the directory replication service (MS-DRSR,
// DRSUAPI), which works the same against Windows Server and Samba DCs and
// needs no shell on the DC.
//
// The DC ignores any password set on a krbtgt account and keeps a random
// key, so the key has to be replicated: DRSBind, DRSCrackNames for the
// account, then DRSGetNCChanges with EXOP_REPL_OBJ for that single object.
// The RPC transport (endpoint mapper, NTLM at packet privacy) comes from
// github.com/oiweiwei/go-msrpc; the secret attribute decryption (MD5 of the
// session key and salt, RC4, CRC32 check) and the supplementalCredentials
// parser (USER_PROPERTIES, Primary:Kerberos-Newer-Keys,
// KERB_STORED_CREDENTIAL_NEW) are written here, so that a tampered or
// garbled reply is refused rather than half-parsed.
package drsr
