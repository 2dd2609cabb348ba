package rodc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/keytabs"
)

// DefaultHTTPAccount is the computer name of the account that holds
// passkdc's HTTP/<host> service principal name.
const DefaultHTTPAccount = "PASSKDC-WEB"

// encTypesAES is msDS-SupportedEncryptionTypes for AES128 and AES256 only:
// the DC then encrypts service tickets for the account with AES.
const encTypesAES = "24"

const (
	attrSPN      = "servicePrincipalName"
	attrEncTypes = "msDS-SupportedEncryptionTypes"
	attrDNSHost  = "dNSHostName"
)

// HTTPServiceOptions configures ProvisionHTTPService.
type HTTPServiceOptions struct {
	// Account is the computer name of the service account (without "$");
	// empty: DefaultHTTPAccount. It must not be the RODC's own name.
	Account string
	// RODCName is the RODC computer name, refused as Account.
	RODCName string
	// BaseDN is the domain naming context; empty: the RootDSE's.
	BaseDN string
	// Host is passkdc's DNS name as browsers and curl address it: the SPN
	// is HTTP/<Host>.
	Host string
	// Keytab is the file the AES keys are merged into (0600; the previous
	// key version is kept for tickets issued under it).
	Keytab string
}

// HTTPService describes the provisioned service account.
type HTTPService struct {
	Account string // sAMAccountName, with "$"
	DN      string
	SPN     string // HTTP/<host>
	Realm   string
	KVNO    uint32
	Created bool
	// Principal is the keytab principal, HTTP/<host>@REALM.
	Principal keytabs.Principal
	// Added is how many keytab entries were new.
	Added int

	rodcName string // the RODC the account is marked as belonging to
}

// ProvisionHTTPService creates (or, when it exists, re-keys) a dedicated
// computer account CN=<Account>,CN=Computers,<base> with the SPN
// HTTP/<Host>, AES-only encryption types and a new random password set over
// LDAP (unicodePwd: the connection must be LDAPS or StartTLS), and merges the
// AES keys derived from that password (the computer salt) into the keytab.
//
// A dedicated account, rather than the RODC computer object, keeps the
// web-facing key apart from the RODC's identity: the RODC's machine account
// is the one a DC trusts to replicate secrets of its reveal-on-demand users,
// and nothing of that must hang off a key that sits in an HTTP process.
func ProvisionHTTPService(ctx context.Context, c Conn, o HTTPServiceOptions) (*HTTPService, error) {
	if o.Account == "" {
		o.Account = DefaultHTTPAccount
	}
	if err := validateName(o.Account); err != nil {
		return nil, err
	}
	if err := validateName(o.RODCName); err != nil {
		return nil, err
	}
	if strings.EqualFold(o.Account, o.RODCName) {
		return nil, fmt.Errorf("the HTTP service account must not be the RODC %s itself: choose another --account", o.RODCName)
	}
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o.Host), "."))
	if host == "" || strings.ContainsAny(host, "/@: ") || !strings.Contains(host, ".") {
		return nil, fmt.Errorf("--host %q: give passkdc's fully qualified DNS name (e.g. passkdc.corp.example.test)", o.Host)
	}
	if o.Keytab == "" {
		return nil, errors.New("--keytab is required")
	}
	base, err := resolveBase(ctx, c, o.BaseDN)
	if err != nil {
		return nil, err
	}
	realm := RealmFromBaseDN(base)
	h := &HTTPService{Account: o.Account + "$", DN: "CN=" + o.Account + ",CN=Computers," + base,
		SPN: "HTTP/" + host, Realm: realm, Principal: keytabs.NewPrincipal(realm, "HTTP", host), rodcName: o.RODCName}
	plain, err := randomPlain()
	if err != nil {
		return nil, err
	}
	if err := h.write(ctx, c, plain); err != nil {
		return nil, err
	}
	e, err := rodcSearchBase(ctx, c, h.DN, []string{attrKeyVersion}, false)
	if err != nil {
		return nil, fmt.Errorf("password of %s set, reading its key version failed: %w", h.Account, err)
	}
	kv, err := strconv.ParseUint(e.GetAttributeValue(attrKeyVersion), 10, 32)
	if err != nil || kv == 0 {
		return nil, fmt.Errorf("%s has no readable msDS-KeyVersionNumber: cannot label its keys", h.Account)
	}
	h.KVNO = uint32(kv)
	return h, h.writeKeytab(o.Keytab, plain)
}

// write adds the account, or updates SPN, encryption types and password.
func (h *HTTPService) write(ctx context.Context, c Conn, plain string) error {
	e, err := rodcSearchBaseOpt(ctx, c, h.DN, []string{attrSAM, attrObjectClass, attrUAC, attrDescription}, false)
	if err != nil {
		return err
	}
	pw := encodeUnicodePwd(plain)
	host := strings.TrimPrefix(h.SPN, "HTTP/")
	if e == nil {
		add := ldap.NewAddRequest(h.DN, nil)
		add.Attribute(attrObjectClass, []string{"top", "person", "organizationalPerson", "user", "computer"})
		add.Attribute(attrSAM, []string{h.Account})
		add.Attribute(attrUAC, []string{strconv.Itoa(uacWorkstationTrust)})
		add.Attribute(attrSPN, []string{h.SPN})
		add.Attribute(attrDNSHost, []string{host})
		add.Attribute(attrEncTypes, []string{encTypesAES})
		add.Attribute(attrDescription, []string{httpMarker(h.rodcName)})
		add.Attribute(attrUnicodePwd, []string{pw})
		if err := rodcAdd(ctx, c, add); err != nil {
			return fmt.Errorf("creating %s (is the connection encrypted, and is %s free?): %w", h.Account, h.SPN, err)
		}
		h.Created = true
		return nil
	}
	if !hasValueFold(e.GetAttributeValues(attrObjectClass), "computer") || !strings.EqualFold(e.GetAttributeValue(attrSAM), h.Account) {
		return fmt.Errorf("%w: %s exists and is not the computer account %s", ErrExists, h.DN, h.Account)
	}
	if d := e.GetAttributeValue(attrDescription); strings.HasPrefix(d, httpMarkerPrefix) && !strings.EqualFold(d, httpMarker(h.rodcName)) {
		return fmt.Errorf("%w: %s is the HTTP service account of another RODC (%q): choose another --account, or the right --name",
			ErrExists, h.Account, d)
	}
	mod := ldap.NewModifyRequest(h.DN, nil)
	mod.Replace(attrDescription, []string{httpMarker(h.rodcName)})
	mod.Replace(attrSPN, []string{h.SPN})
	mod.Replace(attrEncTypes, []string{encTypesAES})
	mod.Replace(attrUnicodePwd, []string{pw})
	if err := rodcModify(ctx, c, mod); err != nil {
		return fmt.Errorf("re-keying %s (is the connection encrypted, and is %s free?): %w", h.Account, h.SPN, err)
	}
	return nil
}

// writeKeytab derives the AES keys of plain under the account's salt and
// merges them into path, keeping one previous version.
func (h *HTTPService) writeKeytab(path, plain string) error {
	salt := keytabs.ADComputerSalt(h.Realm, h.Account)
	var keys []FetchedKey
	for _, et := range []int32{18, 17} {
		k, err := keytabs.StringToKey(et, plain, salt)
		if err != nil {
			return err
		}
		keys = append(keys, FetchedKey{KVNO: h.KVNO, EType: et, value: k.KeyValue})
	}
	if h.Created {
		// A new account's keys start again at its first version: the keys
		// of an earlier account of that name (removed since) are worthless
		// and would collide with the new ones.
		if err := dropPrincipal(path, h.Principal); err != nil {
			return err
		}
	}
	added, err := mergeKeys(path, h.Principal, keys)
	if err != nil {
		return fmt.Errorf("the password of %s is set but its keys were not written (run the command again): %w", h.Account, err)
	}
	h.Added = added
	kt, err := keytabs.Load(path)
	if err != nil {
		return err
	}
	if _, err := kt.Prune(h.Principal, 2); err != nil {
		return err
	}
	return kt.WriteFile(path)
}

// httpMarkerPrefix starts the description that ties an HTTP service account
// to the RODC it was created for (httpMarker), so Remove finds it.
const httpMarkerPrefix = "HTTP service key of passkdc RODC "

func httpMarker(rodcName string) string {
	return httpMarkerPrefix + strings.ToUpper(rodcName) + "$ (Kerberos enrolment), created by passkdc"
}

// HTTPServiceAccount is a computer account holding an HTTP service
// principal name, as the directory has it.
type HTTPServiceAccount struct {
	Account string   // sAMAccountName, with "$"
	DN      string   //
	SPNs    []string // its servicePrincipalName values
	// KVNO is msDS-KeyVersionNumber (0: unreadable).
	KVNO uint32
	// EncTypes is msDS-SupportedEncryptionTypes (0: not set, which a DC
	// treats as RC4 only).
	EncTypes uint32
}

// HasAES reports whether the DC may encrypt service tickets for the account
// with AES (msDS-SupportedEncryptionTypes has AES128 or AES256).
func (a HTTPServiceAccount) HasAES() bool { return a.EncTypes&0x18 != 0 }

// FindSPN returns the accounts under baseDN (empty: the RootDSE's) whose
// servicePrincipalName is spn, each with its key version: one account,
// normally; none when the SPN is not registered; several is a fault (the
// KDC refuses tickets for a duplicated SPN).
func FindSPN(ctx context.Context, c Conn, spn, baseDN string) ([]HTTPServiceAccount, error) {
	base, err := resolveBase(ctx, c, baseDN)
	if err != nil {
		return nil, err
	}
	return httpAccounts(ctx, c, base, "("+attrSPN+"="+ldap.EscapeFilter(spn)+")")
}

// httpServicesOf returns the HTTP service accounts ProvisionHTTPService
// created for the RODC name (by their description marker).
func httpServicesOf(ctx context.Context, c Conn, base, name string) ([]HTTPServiceAccount, error) {
	return httpAccounts(ctx, c, base, "(&(objectClass=computer)("+attrDescription+"="+ldap.EscapeFilter(httpMarker(name))+"))")
}

// httpAccounts searches base for filter and reads each entry's key version
// with a base-object read (msDS-KeyVersionNumber is constructed).
func httpAccounts(ctx context.Context, c Conn, base, filter string) ([]HTTPServiceAccount, error) {
	res, err := rodcSearch(ctx, c, ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{attrSAM, attrSPN, attrEncTypes}, nil))
	if err != nil {
		return nil, err
	}
	var out []HTTPServiceAccount
	for _, e := range res.Entries {
		a := HTTPServiceAccount{Account: e.GetEqualFoldAttributeValue(attrSAM), DN: e.DN, SPNs: e.GetEqualFoldAttributeValues(attrSPN)}
		if v, err := strconv.ParseUint(e.GetEqualFoldAttributeValue(attrEncTypes), 10, 32); err == nil {
			a.EncTypes = uint32(v)
		}
		k, err := rodcSearchBase(ctx, c, e.DN, []string{attrKeyVersion}, false)
		if err != nil {
			return nil, err
		}
		if v, err := strconv.ParseUint(k.GetEqualFoldAttributeValue(attrKeyVersion), 10, 32); err == nil {
			a.KVNO = uint32(v)
		}
		out = append(out, a)
	}
	return out, nil
}

// dropPrincipal removes p's entries from the keytab at path, if any.
func dropPrincipal(path string, p keytabs.Principal) error {
	kt, err := keytabs.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	kept := kt.Entries[:0]
	for _, e := range kt.Entries {
		if !e.Principal.Equal(p) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(kt.Entries) {
		return nil
	}
	kt.Entries = kept
	return kt.WriteFile(path)
}
