package rodc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc/drsr"
)

// FetchFunc fetches an account's stored keys from a DC over DRSUAPI;
// drsr.Fetch in production.
type FetchFunc func(context.Context, drsr.Request) (*drsr.StoredKeys, error)

// FetchedKey is one key of the RODC's krbtgt account as written to the keytab.
type FetchedKey struct {
	// KVNO is the full keytab kvno, Number<<16 | version.
	KVNO uint32
	// EType is the Kerberos encryption type.
	EType int32
	// Previous is true for a key of the version before the current one.
	Previous bool
	value    []byte
}

// Fetched is the outcome of FetchKey: the RODC as read over LDAP and the
// keys that went into the keytab (never printed: FetchedKey hides the value).
type Fetched struct {
	// RODC is the RODC read over LDAP before the fetch.
	RODC *RODC
	// Principal is the keytab principal, krbtgt_<N>@REALM.
	Principal keytabs.Principal
	// Keys are the fetched keys, current first.
	Keys []FetchedKey
	// Added is how many of them were not in the keytab before.
	Added int
}

// FetchKeyOptions name the RODC, the DC to fetch from and the keytab to
// merge into.
type FetchKeyOptions struct {
	// Name and BaseDN name the RODC as for Show.
	Name, BaseDN string
	// Realm is the Kerberos realm of the keytab principal; empty: derived
	// from the base DN (DC=corp,DC=example,DC=test → CORP.EXAMPLE.TEST).
	Realm string
	// DRS carries the DC address and the credentials for DRSUAPI; FetchKey
	// fills in the object to replicate.
	DRS drsr.Request
	// Keytab is the file the keys are merged into (created 0600, replaced
	// atomically; left untouched on any error).
	Keytab string
}

// FetchKey reads the RODC over LDAP (its krbtgt account's GUID and
// msDS-KeyVersionNumber), fetches that account's stored keys from the DC
// with fetch, and merges the current and the previous AES256 and AES128
// keys into the keytab, each with its full RODC kvno (Number<<16 | version;
// the previous key at version-1). Nothing is written unless every step
// succeeded.
func FetchKey(ctx context.Context, c Conn, fetch FetchFunc, o FetchKeyOptions) (*Fetched, error) {
	r, err := Show(ctx, c, o.Name, o.BaseDN)
	if err != nil {
		return nil, err
	}
	if r.KrbtgtGUID == "" || r.KeyVersion == 0 {
		return nil, fmt.Errorf("%w: RODC %s: the krbtgt account's objectGUID or msDS-KeyVersionNumber is not readable over LDAP", ErrIncomplete, o.Name)
	}
	realm := o.Realm
	if realm == "" {
		realm = RealmFromBaseDN(r.BaseDN)
	}
	req := o.DRS
	req.ObjectGUID, req.ObjectDN = r.KrbtgtGUID, r.KrbtgtDN
	stored, err := fetch(ctx, req)
	if err != nil {
		return nil, err
	}
	f := &Fetched{RODC: r, Principal: keytabs.NewPrincipal(realm, r.KrbtgtName), Keys: fetchedKeys(r, stored)}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("%w: %s has no AES keys", drsr.ErrNoKeys, r.KrbtgtName)
	}
	f.Added, err = mergeKeys(o.Keytab, f.Principal, f.Keys)
	return f, err
}

func fetchedKeys(r *RODC, s *drsr.StoredKeys) []FetchedKey {
	version := uint16(r.KeyVersion)
	var out []FetchedKey
	add := func(keys []drsr.Key, v uint16, previous bool) {
		for _, k := range keys {
			if k.EType == drsr.ETypeAES256 || k.EType == drsr.ETypeAES128 {
				out = append(out, FetchedKey{KVNO: keytabs.EncodeKVNO(r.Number, v), EType: k.EType, Previous: previous, value: k.Value})
			}
		}
	}
	add(s.Current, version, false)
	if version > 1 {
		add(s.Previous, version-1, true)
	}
	return out
}

// mergeKeys merges keys into the keytab at path (absent: a new one) and
// writes it atomically; it returns how many entries were new.
func mergeKeys(path string, p keytabs.Principal, keys []FetchedKey) (int, error) {
	into, err := keytabs.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		into, err = &keytabs.Keytab{}, nil
	}
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	src := &keytabs.Keytab{}
	for _, k := range keys {
		src.Entries = append(src.Entries, keytabs.Entry{Principal: p, Timestamp: now, KVNO: k.KVNO,
			Key: types.EncryptionKey{KeyType: k.EType, KeyValue: k.value}})
	}
	added, err := into.Merge(src)
	if err != nil {
		return 0, fmt.Errorf("merging the fetched keys into %s (nothing written): %w", path, err)
	}
	if err := into.WriteFile(path); err != nil {
		return 0, err
	}
	return added, nil
}

// RealmFromBaseDN derives the Kerberos realm from a domain naming context:
// its DC= components joined by dots, upper-cased.
func RealmFromBaseDN(base string) string {
	var parts []string
	for _, rdn := range strings.Split(base, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(rdn), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "DC") {
			parts = append(parts, strings.TrimSpace(v))
		}
	}
	return strings.ToUpper(strings.Join(parts, "."))
}

// RotateAndFetch is the one-step rotation: Rotate resets the krbtgt key on
// the DC behind c, then FetchKey reads the new key back from o.DRS.Server,
// which must be that same DC (the new key may not have replicated anywhere
// else yet), and merges it into the keytab next to the previous version, so
// tickets issued before the rotation stay valid. When the reset succeeded
// but the fetch failed, the returned error wraps ErrFetchAfterRotate: the
// keytab is unchanged, and fetch-key can be retried.
func RotateAndFetch(ctx context.Context, c Conn, fetch FetchFunc, o FetchKeyOptions) (*Fetched, error) {
	rotated, err := Rotate(ctx, c, o.Name, o.BaseDN)
	if err != nil {
		return nil, err
	}
	got, err := FetchKey(ctx, c, fetch, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is now at key version %d: %w", ErrFetchAfterRotate, rotated.KrbtgtName, rotated.KeyVersion, err)
	}
	return got, nil
}

// AccountName is the logon name of the account at dn, for authenticating
// as it over another protocol than LDAP (NTLM to DRSUAPI): its
// userPrincipalName, or sAMAccountName@REALM with the realm of the DN's
// DC= components.
func AccountName(ctx context.Context, c Conn, dn string) (string, error) {
	e, err := rodcSearchBase(ctx, c, dn, []string{"userPrincipalName", attrSAM}, false)
	if err != nil {
		return "", err
	}
	if upn := e.GetEqualFoldAttributeValue("userPrincipalName"); upn != "" {
		return upn, nil
	}
	sam, realm := e.GetEqualFoldAttributeValue(attrSAM), RealmFromBaseDN(dn)
	if sam == "" || realm == "" {
		return "", fmt.Errorf("%w: %s has no userPrincipalName or sAMAccountName readable", ErrNotFound, dn)
	}
	return sam + "@" + realm, nil
}
