// Package ldapsync mirrors a directory's principals and groups into the
// store: full and incremental passes over LDAP (paged, ranged values
// completed, all or nothing per pass), for two directory flavours (Active
// Directory and RFC 2307 / OpenLDAP), each with its own filters and
// attribute names; and the live check of one user at sign-in (account
// state, tokenGroups). It owns reading the directory and writing the
// mirror. It must not decide who gets a ticket (kdc/issuer and the
// RODC policy in rodc do), speak HTTP, or touch passkeys.
package ldapsync
