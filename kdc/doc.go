// Package kdc issues Kerberos tickets: the partial TGTs passkdc hands to
// passkey users, encrypted with the key of a read-only DC's krbtgt_N account,
// and, for interoperability tests, service tickets under a normal service key.
//
// A partial TGT (DESIGN §2) has sname krbtgt/REALM (NT-SRV-INST), flags
// forwardable, renewable, initial and pre-authent, UTC whole-second times,
// transited type 1 with empty contents, no addresses, and authorization data
// AD-IF-RELEVANT[AD-WIN2K-PAC] holding LOGON_INFO, CLIENT_INFO (name = cname,
// time = authtime), UPN_DNS_INFO (with SAM name and SID), ATTRIBUTES_INFO
// (PAC_WAS_REQUESTED), REQUESTER_SID and the server, KDC, ticket and full
// signatures (package pac documents the signing). It is encrypted with key
// usage 2 and EncryptedData.kvno is the 32-bit kvno N<<16|version read as a
// signed Int32.
//
// Measured against a live Samba 4.17.12 DC with a mock RODC: the DC trades
// such a TGT for service tickets and full TGTs; it answers 20
// (TGT_REVOKED) for a user outside the reveal-on-demand group or a PAC SID
// that is not the user's objectSid, 31 for a bad server signature, 44 for a
// wrong version in the kvno and 35 for an unknown RODC number. For an
// RODC-issued TGT it checks only the server signature: corrupted KDC, ticket
// or full signatures are accepted. Windows and Samba DCs put ticket and full
// signatures only into service tickets (Samba's raw_testcase.py asserts
// their absence from TGTs); we add them to partial TGTs because DESIGN §2
// asks for them, correctly computed, and IssueOptions can leave them out.
package kdc
