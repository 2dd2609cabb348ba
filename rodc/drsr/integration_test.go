package drsr

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/integration/samba"
)

// The package's own Samba DC (127.0.0.43), started on first use; tests skip
// without Samba and fail under CI=true.
var sambaShared = samba.NewShared(samba.Options{IP: "127.0.0.43", CacheDir: samba.CacheDirFromEnv()})

func TestMain(m *testing.M) { os.Exit(sambaShared.Run(m)) }

// krbtgtObject reads the objectGUID and DN of the domain's krbtgt account.
func krbtgtObject(t *testing.T, dc *samba.DC) (guid, dn string) {
	t.Helper()
	conn, err := dc.LDAP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("CN=krbtgt,CN=Users,"+dc.BaseDN(), ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 1, 20, false, "(objectClass=user)", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("krbtgt: %v", err)
	}
	id, err := uuid.FromBytes(res.Entries[0].GetRawAttributeValue("objectGUID"))
	if err != nil {
		t.Fatal(err)
	}
	// objectGUID is stored little-endian in its first three fields.
	b := id[:]
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return id.String(), res.Entries[0].DN
}

// TestFetchAgainstSamba: sealed, the administrator gets the krbtgt
// account's AES keys; with packet integrity only, the DC refuses to
// replicate the secret; an unknown GUID is a clear error.
func TestFetchAgainstSamba(t *testing.T) {
	dc := sambaShared.DC(t)
	guid, dn := krbtgtObject(t, dc)
	base := Request{Server: dc.IP(), User: dc.AdminPrincipal(), Password: dc.AdminPassword(), ObjectGUID: guid, ObjectDN: dn}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := Fetch(ctx, base)
	if err != nil {
		t.Fatalf("sealed fetch: %v", err)
	}
	if len(keys.Current) == 0 || keys.Current[0].EType != ETypeAES256 || len(keys.Current[0].Value) != 32 {
		t.Fatalf("sealed fetch: %d current keys", len(keys.Current))
	}
	signed := base
	signed.integrityOnly = true
	if _, err := Fetch(ctx, signed); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("integrity-only fetch: %v, want %v", err, ErrAccessDenied)
	} else {
		t.Logf("packet integrity only: %v", err)
	}
	unknown := base
	unknown.ObjectGUID, unknown.ObjectDN = uuid.NewString(), ""
	if _, err := Fetch(ctx, unknown); !errors.Is(err, ErrNoSuchAccount) {
		t.Fatalf("fetch of an unknown object: %v, want %v", err, ErrNoSuchAccount)
	}
}
