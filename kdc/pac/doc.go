// Package pac builds, signs and parses Microsoft Privilege Attribute
// Certificates (MS-PAC) for the tickets passkdc issues.
//
// # Encoding
//
// PAC_LOGON_INFO is KERB_VALIDATION_INFO in NDR20 (MS-RPCE 2.2.5) inside a
// type serialization version 1 envelope (MS-RPCE 2.2.6). The encoder
// reproduces, byte for byte, the three Windows-generated LOGON_INFO buffers
// in gokrb5's test data (the MS-PAC specification sample, a Windows 2016
// capture and one with resource groups), and the CLIENT_INFO, UPN_DNS_INFO
// and whole-PACTYPE layout of a complete Windows PAC (see the tests).
// CLIENT_INFO, UPN_DNS_INFO, ATTRIBUTES_INFO, REQUESTER_SID and the
// signature buffers are plain little-endian structures. Samba's generated NDR
// parser (librpc/idl/krb5pac.idl, the one Samba's KDC uses) decodes our PACs
// and re-encodes them to the same bytes (kdc package tests).
//
// # Signatures
//
// All checksums use key usage 17 (KERB_NON_KERB_CKSUM_SALT) and the key's
// mandatory checksum: HMAC-SHA1-96-AES256 (16) for an aes256 key,
// HMAC-SHA1-96-AES128 (15) for aes128. Verified against Samba 4.17.12's
// Heimdal (third_party/heimdal/lib/krb5/pac.c: _krb5_pac_sign,
// krb5_pac_verify, _krb5_kdc_pac_ticket_parse, _krb5_kdc_pac_sign_ticket),
// Samba's python/samba/tests/krb5/raw_testcase.py (verify_ticket,
// update_pac_checksums) and, for the server signature and the refusals, a
// live Samba 4.17.12 DC. Sign lays the PAC out with every signature zeroed,
// the ticket signature's RODC identifier already in place and the other
// RODC identifiers zero, then fills in, in this order:
//
//  1. TICKET (16), KDC key: over SignOptions.TicketSignData, the DER
//     EncTicketPart in which the PAC's ad-data is a single 0x00 byte.
//  2. FULL (19), KDC key: over the whole PAC with the server, KDC and full
//     signature buffers zeroed after their SignatureType (ticket signature
//     present); then its RODC identifier is written.
//  3. SERVER (6), server key: over the whole PAC with the server and KDC
//     buffers zeroed after their SignatureType (ticket and full signatures,
//     with their RODC identifiers, present).
//  4. KDC (7), KDC key: over the 12 server signature bytes; then its RODC
//     identifier is written.
//
// "Zeroed" means every byte after the 4-byte SignatureType up to
// cbBufferSize, the RODC identifier included (Heimdal's krb5_pac_verify
// clears buffersize-4 bytes; Samba's verify_ticket zeroes the whole
// signature blob). gokrb5 zeroes only the 12 signature bytes, so its
// ProcessPACInfoBuffers cannot verify a PAC that carries an RODC identifier.
//
// The RODC identifier (N of krbtgt_N, little-endian uint16) follows the KDC,
// ticket and full signatures when N != 0, never the server signature.
package pac
