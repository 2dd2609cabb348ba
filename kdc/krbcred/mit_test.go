package krbcred

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
)

// No MIT command-line tool reads or writes a KRB-CRED file, so these tests
// call MIT's library directly (krb5_rd_cred, krb5_mk_ncred) through
// ../ccache/testdata/mitkrb5.py.

func keyArgs(key *types.EncryptionKey) []string {
	if key == nil {
		return nil
	}
	return []string{strconv.Itoa(int(key.KeyType)), hex.EncodeToString(key.KeyValue)}
}

// TestMITReadsOurs: krb5_rd_cred accepts our KRB-CRED, in clear and
// encrypted, and the credentials it stores in a FILE cache are exactly the
// ones ToCCache derives; the replay fields come back as sent.
func TestMITReadsOurs(t *testing.T) {
	for _, etype := range []int32{0, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC} {
		t.Run(strconv.Itoa(int(etype)), func(t *testing.T) {
			dir := t.TempDir()
			env := mitEnv(t, dir)
			c := sampleCred(t)
			var key *types.EncryptionKey
			if etype != 0 {
				key = randomKey(t, etype)
			}
			b, err := c.Marshal(key)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "cred.krb")
			if err := os.WriteFile(in, b, 0o600); err != nil {
				t.Fatal(err)
			}
			ccPath := filepath.Join(dir, "cc")
			out, _ := runMIT(t, env, false, append([]string{"rdcred", in, "FILE:" + ccPath}, keyArgs(key)...)...)
			var replay struct {
				Timestamp int64  `json:"timestamp"`
				Usec      int32  `json:"usec"`
				Seq       uint32 `json:"seq"`
				Count     int    `json:"count"`
			}
			if err := json.Unmarshal([]byte(out), &replay); err != nil {
				t.Fatalf("rdcred output %q: %v", out, err)
			}
			if replay.Count != 2 || replay.Timestamp != c.Timestamp.Unix() || replay.Usec != c.Usec || replay.Seq != uint32(c.Nonce) {
				t.Errorf("MIT replay data %s, want timestamp %d usec %d seq %d", out, c.Timestamp.Unix(), c.Usec, c.Nonce)
			}
			mit, err := ccache.Load(ccPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := NewCCache(c)
			if err != nil {
				t.Fatal(err)
			}
			if !mit.DefaultPrincipal.Equal(want.DefaultPrincipal) || len(mit.Credentials) != len(want.Credentials) {
				t.Fatalf("MIT cache %v with %d credentials", mit.DefaultPrincipal, len(mit.Credentials))
			}
			for i := range want.Credentials {
				if g, w := fmtCred(mit.Credentials[i]), fmtCred(want.Credentials[i]); g != w {
					t.Errorf("credential %d:\nMIT  %s\nours %s", i, g, w)
				}
			}
		})
	}
}

func fmtCred(c ccache.Credential) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// TestMITRejectsIA5Realm: krb5_rd_cred refuses an srealm encoded as
// IA5String, both in gokrb5's encoding and in ours with only that tag byte
// changed, which is why this package has its own structures.
func TestMITRejectsIA5Realm(t *testing.T) {
	c := sampleCred(t)
	ours, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	retagged := append([]byte{}, ours...)
	infos, _ := credInfos(t, retagged) // sub-slices of retagged
	for _, fields := range infos {
		field(t, fields, 8).content[0] = tagIA5String
	}
	gokrb5, err := c.marshalOuter(types.EncryptedData{Cipher: gokrb5EncPart(t, c)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{{"ours with srealm as IA5String", retagged}, {"gokrb5 enc-part", gokrb5}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "cred.krb")
			if err := os.WriteFile(in, tt.in, 0o600); err != nil {
				t.Fatal(err)
			}
			stderr, _ := runMIT(t, mitEnv(t, dir), true, "rdcred", in, "FILE:"+filepath.Join(dir, "cc"))
			if !strings.Contains(stderr, "krb5_rd_cred: ASN.1 identifier doesn't match expected value") {
				t.Fatalf("unexpected failure: %s", stderr)
			}
		})
	}
}

// TestParseMITWritten: krb5_mk_ncred over a cache we wrote produces a
// KRB-CRED that Parse reads back to the same tickets and infos.
func TestParseMITWritten(t *testing.T) {
	for _, etype := range []int32{0, etypeID.AES256_CTS_HMAC_SHA1_96} {
		t.Run(strconv.Itoa(int(etype)), func(t *testing.T) {
			dir := t.TempDir()
			env := mitEnv(t, dir)
			c := sampleCred(t)
			cc, err := NewCCache(c)
			if err != nil {
				t.Fatal(err)
			}
			cc.SetConfig(ccache.ConfigFASTAvail, nil, []byte("yes")) // skipped by mkcred
			ccPath := filepath.Join(dir, "cc")
			if err := cc.WriteFile(ccPath); err != nil {
				t.Fatal(err)
			}
			var key *types.EncryptionKey
			if etype != 0 {
				key = randomKey(t, etype)
			}
			out := filepath.Join(dir, "mit.krb")
			before := time.Now().Add(-2 * time.Second)
			runMIT(t, env, false, append([]string{"mkcred", "FILE:" + ccPath, out}, keyArgs(key)...)...)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b, key)
			if err != nil {
				t.Fatalf("Parse MIT KRB-CRED: %v", err)
			}
			if got.Timestamp.Before(before) || got.Timestamp.After(time.Now().Add(2*time.Second)) || got.Usec < 0 || got.Usec > 999999 {
				t.Errorf("MIT timestamp %v usec %d", got.Timestamp, got.Usec)
			}
			want := *c
			want.Nonce, want.Timestamp, want.Usec, want.SAddress, want.RAddress = 0, got.Timestamp, got.Usec, nil, nil
			if d := diffCred(got, &want); d != nil {
				t.Fatalf("MIT KRB-CRED differs:\n%s", strings.Join(d, "\n"))
			}
			if key == nil {
				// Our encoding of the same content is byte-identical to MIT's.
				ours, err := got.Marshal(nil)
				if err != nil {
					t.Fatal(err)
				}
				if hex.EncodeToString(ours) != hex.EncodeToString(b) {
					t.Errorf("encodings differ:\nmit  %x\nours %x", b, ours)
				}
			}
		})
	}
}
