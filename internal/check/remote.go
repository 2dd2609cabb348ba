package check

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/dirconfig"
	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/rodc"
)

// directory checks the LDAP connection (reachable, certificate trusted, bind)
// and then the RODC object: present, its number and key version equal to the
// keytab's, its policy groups resolvable.
func (r *run) directory(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LDAP.Timeout+5*time.Second)
	defer cancel()
	conn, err := ldapsync.Dial(ctx, dirconfig.DialConfig(r.cfg, r.o.Log))
	if err != nil {
		r.fail("directory", true, fmt.Sprintf("cannot use the directory at %s: %v", r.cfg.LDAP.URL, err), DirectoryFix(err))
		return
	}
	defer conn.Close()
	r.ok("directory", "%s: connected, certificate trusted, bound as %s", r.cfg.LDAP.URL, r.cfg.LDAP.BindDN)
	if !r.baseDN(conn) {
		return
	}
	r.rodcObject(ctx, conn)
	r.httpAccount(ctx, conn)
}

// rodcObject checks the RODC object, its policy and its key version.
func (r *run) rodcObject(ctx context.Context, conn *ldap.Conn) {
	obj, err := rodc.Show(ctx, conn, r.o.RODCName, r.cfg.LDAP.BaseDN)
	switch {
	case errors.Is(err, rodc.ErrNotFound):
		r.fail("rodc", true, fmt.Sprintf("no RODC object %s in %s", r.o.RODCName, r.cfg.LDAP.BaseDN),
			"run passkdc rodc provision --name "+r.o.RODCName+", or set the RODC name that was provisioned (--rodc-name)")
		return
	case err != nil:
		r.fail("rodc", true, fmt.Sprintf("RODC %s: %v", r.o.RODCName, err), "passkdc rodc show names each problem; passkdc rodc provision repairs the object")
		return
	}
	r.ok("rodc", "%s: %s, RODC number %d, key version %d, %d reveal and %d never-reveal group(s)",
		obj.Name, obj.KrbtgtName, obj.Number, obj.KeyVersion, len(obj.Allow), len(obj.Deny))
	r.policy(obj)
	r.keyMatchesDC(obj)
}

// httpAccount checks the account holding kerberos.spn at the DC: exactly
// one, letting the DC issue AES tickets, its key version the keytab's.
func (r *run) httpAccount(ctx context.Context, conn *ldap.Conn) {
	if r.httpKVNO == 0 {
		return // not configured, or the kerberos check already failed
	}
	const name = "kerberos_key"
	k := r.cfg.Kerberos
	rekey := "run passkdc rodc http-spn --host " + strings.TrimPrefix(k.SPN, "HTTP/") + " --keytab " + k.Keytab +
		" (a running serve reloads kerberos.keytab within 2 s)"
	accts, err := rodc.FindSPN(ctx, conn, k.SPN, r.cfg.LDAP.BaseDN)
	switch {
	case err != nil:
		r.fail(name, false, fmt.Sprintf("the account holding kerberos.spn %s cannot be read: %v", k.SPN, err),
			"check that ldap.bind_dn may read computer accounts (servicePrincipalName, msDS-KeyVersionNumber)")
		return
	case len(accts) == 0:
		r.fail(name, false, fmt.Sprintf("no account in the directory holds kerberos.spn %s: the DC issues no tickets for it", k.SPN), rekey)
		return
	case len(accts) > 1:
		var dns []string
		for _, a := range accts {
			dns = append(dns, a.DN)
		}
		r.fail(name, false, fmt.Sprintf("kerberos.spn %s is held by %d accounts (%s): the DC refuses tickets for a duplicated SPN",
			k.SPN, len(accts), strings.Join(dns, "; ")), "remove the SPN from every account but the one passkdc rodc http-spn made")
		return
	}
	a := accts[0]
	switch {
	case !a.HasAES():
		r.fail(name, false, fmt.Sprintf("%s (holding kerberos.spn %s) has msDS-SupportedEncryptionTypes %d: the DC issues RC4 tickets, which passkdc refuses",
			a.Account, k.SPN, a.EncTypes), rekey+", or set msDS-SupportedEncryptionTypes of "+a.DN+" to 24 (AES only)")
	case a.KVNO != r.httpKVNO:
		r.fail(name, false, fmt.Sprintf("kerberos.keytab's newest key of %s is version %d, the DC's %s is at version %d (re-keyed since, or another keytab?)",
			k.SPN, r.httpKVNO, a.Account, a.KVNO), rekey)
	default:
		r.ok(name, "%s holds %s at key version %d, the keytab's, AES tickets", a.Account, k.SPN, a.KVNO)
	}
}

// policy checks that every never-reveal value names a group with a SID and
// that some group may have tickets at all.
func (r *run) policy(obj *rodc.RODC) {
	if err := obj.UnresolvedError(); err != nil {
		r.fail("policy", true, err.Error(),
			"remove the value from msDS-NeverRevealGroup of "+obj.ComputerDN+" or replace it by the group it meant (ADUC, or ldapmodify)")
		return
	}
	if len(obj.Allow) == 0 {
		r.fail("policy", false, "the RODC has no msDS-RevealOnDemandGroup: the DC will refuse every partial TGT",
			"add the groups whose members may sign in to msDS-RevealOnDemandGroup of "+obj.ComputerDN)
		return
	}
	r.ok("policy", "every policy group resolves to a SID (%d reveal, %d never-reveal)", len(obj.Allow), len(obj.Deny))
}

// baseDN checks that ldap.base_dn names an entry the bind account can read
// (an empty base_dn is the DC's defaultNamingContext: nothing to check).
func (r *run) baseDN(conn *ldap.Conn) bool {
	base := r.cfg.LDAP.BaseDN
	if base == "" {
		return true
	}
	_, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		r.fail("base_dn", true, fmt.Sprintf("ldap.base_dn %q does not exist in the directory", base),
			"set ldap.base_dn to the domain's naming context (the RootDSE's defaultNamingContext, e.g. DC=corp,DC=example,DC=test)")
		return false
	case err != nil:
		r.fail("base_dn", true, fmt.Sprintf("ldap.base_dn %q cannot be read: %v", base, err),
			"check ldap.base_dn and that ldap.bind_dn may read it")
		return false
	}
	r.ok("base_dn", "%s exists", base)
	return true
}

// keyMatchesDC compares the keytab's RODC number and key version with the DC's.
func (r *run) keyMatchesDC(obj *rodc.RODC) {
	if r.keytabNumber == 0 {
		return // the keytab check already failed
	}
	switch {
	case r.keytabNumber != obj.Number:
		r.fail("key", true, fmt.Sprintf("the keytab holds keys of RODC number %d, but %s is number %d (another RODC's keytab?)",
			r.keytabNumber, obj.Name, obj.Number), "export "+obj.KrbtgtName+"'s key and passkdc keytab import it into "+r.cfg.Keytab)
	case obj.KeyVersion != 0 && uint32(r.keytabVersion) != obj.KeyVersion:
		r.fail("key", true, fmt.Sprintf("the keytab's newest key is version %d, the DC's %s is at version %d (rotated since the last import?)",
			r.keytabVersion, obj.KrbtgtName, obj.KeyVersion),
			"export "+obj.KrbtgtName+"'s current key, passkdc keytab import it, a running passkdc serve reloads it within 2 s")
	default:
		r.ok("key", "the keytab's key version %d is the DC's", r.keytabVersion)
	}
}

// DirectoryFix names the config key to change for a failure to dial or
// bind to the directory (ldapsync.Dial's error).
func DirectoryFix(err error) string {
	switch {
	case errors.Is(err, ldapsync.ErrTLS):
		return "the DC's certificate is not trusted: set ldap.ca_file to the CA that signed it (and check the host name in ldap.url)"
	case errors.Is(err, ldapsync.ErrBadCredentials):
		return "the bind was refused: check ldap.bind_dn and the password in ldap.bind_password_file"
	case errors.Is(err, ldapsync.ErrUnreachable):
		return "check ldap.url (host and port) and that the DC is up and reachable from here"
	}
	return "check the ldap section of the configuration"
}

// kdc sends an AS-REQ without pre-authentication to the DC's KDC (--kdc,
// else kdc_proxy.kdcs' first when the proxy is on, else ldap.url's host on
// port 88): any
// KRB-ERROR answer (PREAUTH_REQUIRED for an existing account) proves it is
// reachable, and its stime gives the clock difference.
func (r *run) kdc(ctx context.Context) {
	addr := r.o.KDC
	if addr == "" && r.cfg.KDCProxy.Enabled && len(r.cfg.KDCProxy.KDCs) > 0 {
		addr = r.cfg.KDCProxy.KDCs[0] // the realm's KDC the proxy relays to
	}
	if addr == "" {
		u, err := url.Parse(r.cfg.LDAP.URL)
		if err != nil || u.Hostname() == "" {
			r.fail("kdc", false, "no KDC address: ldap.url has no host", "pass --kdc host:88")
			return
		}
		addr = net.JoinHostPort(u.Hostname(), "88")
	}
	stime, code, err := probeKDC(ctx, addr, r.cfg.Realm, probeName(r.cfg.LDAP.BindDN))
	if err != nil {
		r.fail("kdc", false, fmt.Sprintf("the DC's KDC at %s does not answer: %v (clients cannot trade partial TGTs there)", addr, err),
			"open TCP port 88 to the DC, or name the KDC with --kdc host:port")
		return
	}
	r.ok("kdc", "%s answers (%s)", addr, errorcode.Lookup(code))
	skew := r.o.Now().Sub(stime)
	if skew < 0 {
		skew = -skew
	}
	if skew > r.o.MaxSkew {
		r.fail("clock", true, fmt.Sprintf("this clock is %s off the DC's (Kerberos tolerates %s): tickets would be refused", skew.Round(time.Second), r.o.MaxSkew),
			"synchronise the clock (chrony or systemd-timesyncd) with the DCs")
		return
	}
	r.ok("clock", "%s off the DC's", skew.Round(time.Millisecond))
}

// probeName is the account the probe asks for: the bind account's name.
func probeName(bindDN string) string {
	name := bindDN
	if n, realm := krbname.Split(name, ""); realm != "" && n != "" {
		name = n
	} else if strings.Contains(name, "=") {
		name = strings.TrimPrefix(strings.SplitN(name, ",", 2)[0], "CN=")
		name = strings.TrimPrefix(name, "cn=")
	}
	if name == "" {
		name = "krbtgt"
	}
	return name
}

// probeKDC sends one AS-REQ over TCP and returns the KRB-ERROR's time and code.
func probeKDC(ctx context.Context, addr, realm, user string) (time.Time, int32, error) {
	kc := krbconfig.New()
	kc.LibDefaults.DefaultRealm = realm
	req, err := messages.NewASReqForTGT(realm, kc, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user))
	if err != nil {
		return time.Time{}, 0, err
	}
	b, err := req.Marshal()
	if err != nil {
		return time.Time{}, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return time.Time{}, 0, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	framed := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := conn.Write(append(framed, b...)); err != nil {
		return time.Time{}, 0, err
	}
	var n [4]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return time.Time{}, 0, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return time.Time{}, 0, fmt.Errorf("answer of %d bytes is not Kerberos", size)
	}
	reply := make([]byte, size)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return time.Time{}, 0, err
	}
	var kerr messages.KRBError
	if err := kerr.Unmarshal(reply); err != nil {
		return time.Time{}, 0, fmt.Errorf("answer is not a KRB-ERROR: %w", err)
	}
	return kerr.STime, kerr.ErrorCode, nil
}
