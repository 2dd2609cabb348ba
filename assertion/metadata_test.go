package assertion

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/fxamacker/cbor/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/internal/mdstest"
)

// The fixtures live in internal/mdstest, shared with the end-to-end tests.
type (
	testCA   = mdstest.CA
	mdsEntry = mdstest.Entry
)

var (
	newCert            = mdstest.NewCert
	newRootCA          = mdstest.NewRoot
	newAttestationCert = mdstest.NewAttestationCert
	makeBlob           = mdstest.MakeBlob
)

// withFullAttestation rewrites a virtualwebauthn registration response so
// that it carries a packed attestation signed by att (fmt "packed", x5c).
func withFullAttestation(t *testing.T, body string, att *testCA) string {
	return string(mdstest.PackedAttestation(t, []byte(body), att))
}

// withNoneAttestation rewrites the response as fmt "none".
func withNoneAttestation(t *testing.T, body string) string {
	t.Helper()
	return mutateAssertion(t, body, func(m map[string]any) {
		r := m["response"].(map[string]any)
		rawObj, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
		var obj map[string]any
		if err := cbor.Unmarshal(rawObj, &obj); err != nil {
			t.Fatal(err)
		}
		obj["fmt"], obj["attStmt"] = "none", map[string]any{}
		em, _ := cbor.CTAP2EncOptions().EncMode()
		out, _ := em.Marshal(obj)
		r["attestationObject"] = base64.RawURLEncoding.EncodeToString(out)
	})
}

func TestLoadMetadata(t *testing.T) {
	blobRoot := newRootCA(t, "Test MDS Root")
	attRoot := newRootCA(t, "Test Attestation Root")
	id := uuid.New()
	blob := makeBlob(t, blobRoot, mdsEntry{AAGUID: id, Root: attRoot.Cert})
	md, err := LoadMetadata(blob, blobRoot.Cert, time.Now())
	if err != nil {
		t.Fatalf("LoadMetadata: %v", err)
	}
	if md.Entries != 1 || md.Skipped != 0 || md.Number != 7 || md.NextUpdate.Year() != 2030 {
		t.Errorf("metadata %+v", md)
	}

	other := newRootCA(t, "Other Root")
	tampered := []byte(strings.Replace(string(blob), string(blob[len(blob)-10:]), "AAAAAAAAAA", 1))
	for name, c := range map[string]struct {
		blob []byte
		root *x509.Certificate
		now  time.Time
	}{
		"wrong root":   {blob, other.Cert, time.Now()},
		"tampered":     {tampered, blobRoot.Cert, time.Now()},
		"not a JWT":    {[]byte("hello"), blobRoot.Cert, time.Now()},
		"empty":        {nil, blobRoot.Cert, time.Now()},
		"expired root": {makeBlobX5C(t, blobRoot, id, attRoot.Cert), blobRoot.Cert, time.Now().Add(48 * time.Hour)},
	} {
		if _, err := LoadMetadata(c.blob, c.root, c.now); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadMetadata(makeBlobX5C(t, blobRoot, id, attRoot.Cert), blobRoot.Cert, time.Now()); err != nil {
		t.Errorf("x5c-signed blob: %v", err)
	}

	dir := t.TempDir()
	blobPath, rootPath := filepath.Join(dir, "blob.jwt"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(blobPath, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blobRoot.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMetadataFile(blobPath, rootPath, time.Now()); err != nil {
		t.Errorf("LoadMetadataFile: %v", err)
	}
	if _, err := LoadMetadataFile(blobPath, "", time.Now()); err == nil {
		t.Error("test blob verified against the FIDO production root")
	}
	if _, err := LoadMetadataFile(filepath.Join(dir, "missing"), rootPath, time.Now()); err == nil {
		t.Error("missing file loaded")
	}
}

// makeBlobX5C signs the blob with a leaf under root and sends the chain in x5c.
func makeBlobX5C(t *testing.T, root *testCA, id uuid.UUID, attRoot *x509.Certificate) []byte {
	leaf := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "MDS signer"}, KeyUsage: x509.KeyUsageDigitalSignature}, root)
	parts := strings.Split(string(makeBlob(t, leaf, mdsEntry{AAGUID: id, Root: attRoot})), ".")
	var hdr map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(raw, &hdr)
	hdr["x5c"] = []string{base64.StdEncoding.EncodeToString(leaf.Cert.Raw)}
	hb, _ := json.Marshal(hdr)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, nil)
	tok.Header = hdr
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1]
	sig, err := tok.Method.Sign(signing, leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(signing + "." + base64.RawURLEncoding.EncodeToString(sig))
}

func TestAttestationEnforced(t *testing.T) { forStores(t, runAttestationEnforced) }

func runAttestationEnforced(t *testing.T, mk storeFactory) {
	blobRoot := newRootCA(t, "Test MDS Root")
	attRoot := newRootCA(t, "Test Attestation Root")
	rogueRoot := newRootCA(t, "Rogue Root")
	good, unknown, revoked := uuid.New(), uuid.New(), uuid.New()
	blob := makeBlob(t, blobRoot, mdsEntry{AAGUID: good, Root: attRoot.Cert},
		mdsEntry{AAGUID: revoked, Root: attRoot.Cert, Status: "REVOKED"})
	md, err := LoadMetadata(blob, blobRoot.Cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prof := DefaultProfile()
	prof.Name, prof.Attestation = "attested", AttestationEnforced

	// registerWith runs a registration under prof whose response is rewritten.
	registerWith := func(e *env, p Profile, aaguid uuid.UUID, rewrite func(string) string) error {
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		auth.Aaguid = aaguid
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, p)
		if err != nil {
			return err
		}
		if p.attestationEnforced() && opts.Response.Attestation != "direct" {
			t.Errorf("conveyance %q", opts.Response.Attestation)
		}
		body := rewrite(e.attest(e.vrp, auth, newCred(), opts))
		sc, err := e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(body))
		if err == nil && (sc.AttestationType != "basic_full" && p.attestationEnforced()) {
			t.Errorf("attestation type %q", sc.AttestationType)
		}
		return err
	}
	full := func(ca *testCA, id uuid.UUID) func(string) string {
		return func(b string) string { return withFullAttestation(t, b, newAttestationCert(t, ca, id)) }
	}
	self := func(b string) string { return b }
	none := func(b string) string { return withNoneAttestation(t, b) }

	e := newEnvWith(t, mk, nil, WithMetadata(md))
	if err := registerWith(e, prof, good, full(attRoot, good)); err != nil {
		t.Fatalf("trusted attestation refused: %v", err)
	}
	cases := []struct {
		name    string
		aaguid  uuid.UUID
		rewrite func(string) string
	}{
		{"self attestation", good, self},
		{"no attestation", good, none},
		{"untrusted root", good, full(rogueRoot, good)},
		{"AAGUID not in metadata", unknown, full(attRoot, unknown)},
		{"revoked model", revoked, full(attRoot, revoked)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			x := e.refused(registerWith(e, prof, c.aaguid, c.rewrite), CodeAttestationRefused, before)
			if !strings.Contains(x.Message, `"attested"`) || !strings.Contains(x.Message, RuleAttestation) {
				t.Errorf("message does not name profile and rule: %s", x.Message)
			}
			t.Logf("%s", x.Message)
		})
	}
	t.Run("allow list admits only an attested model", func(t *testing.T) {
		allow := DefaultProfile()
		allow.Name, allow.AAGUIDAllow = "models", []string{good.String()}
		if err := registerWith(e, allow, good, full(attRoot, good)); err != nil {
			t.Fatalf("attested allowed model refused: %v", err)
		}
		for name, rewrite := range map[string]func(string) string{"self attestation": self, "no attestation": none} {
			before := e.snapshot()
			x := e.refused(registerWith(e, allow, good, rewrite), CodeProfileRefused, before)
			if !strings.Contains(x.Message, `"models"`) || !strings.Contains(x.Message, RuleAAGUIDAllow) || !strings.Contains(x.Message, "only claimed") {
				t.Errorf("%s: %s", name, x.Message)
			}
		}
	})
	t.Run("a self attestation admitted by another profile is not attested", func(t *testing.T) {
		allow := DefaultProfile()
		allow.Name, allow.AAGUIDAllow = "models", []string{good.String()}
		auth := newAuth(e.alice, virtualwebauthn.AuthenticatorOptions{})
		auth.Aaguid = good
		sid, opts, err := e.rp.BeginRegistration(e.ctx, e.alice, allow, DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := e.rp.FinishRegistration(e.ctx, sid, strings.NewReader(e.attest(e.vrp, auth, newCred(), opts)))
		if err != nil || sc.Profile != DefaultProfile().Name || sc.AttestationVerified {
			t.Fatalf("registered %+v, %v: want admitted by the default profile, not attested", sc, err)
		}
	})
	t.Run("profile without attestation ignores metadata", func(t *testing.T) {
		if err := registerWith(e, DefaultProfile(), unknown, self); err != nil {
			t.Fatal(err)
		}
	})
}
