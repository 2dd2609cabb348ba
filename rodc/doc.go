// Package rodc manages passkdc's mock read-only domain controller in Active
// Directory: Provision creates the computer object with its password
// replication policy and the linked krbtgt_N account, Show reads them back,
// Rotate resets the krbtgt_N key over LDAP, FetchKey reads the key back
// from a DC over DRSUAPI (rodc/drsr) into the keytab, RotateAndFetch does
// both against one DC, Remove deletes the objects, and (*RODC).Decide
// applies the policy to a user's SIDs the way the DC does.
//
// FetchKey uses these fields of the *RODC Show returns, all read over LDAP:
//   - ComputerDN and KrbtgtDN: the computer object and the linked krbtgt account;
//   - KrbtgtGUID: that account's objectGUID, which names it to GetNCChanges;
//   - KrbtgtName: the account's sAMAccountName, "krbtgt_<N>";
//   - Number: msDS-SecondaryKrbTgtNumber, the RODC number N;
//   - KeyVersion: the krbtgt account's msDS-KeyVersionNumber;
//   - KeytabKVNO(): Number<<16 | KeyVersion&0xFFFF, the kvno of a keytab entry.
//
// LDAP failures wrap ldapsync's sentinels (ErrNotFound, ErrExists, …, also
// exported here) and *LDAPError.
package rodc
