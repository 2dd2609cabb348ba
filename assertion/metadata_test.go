package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/fxamacker/cbor/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// testCA is a key and its certificate.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

var oidFIDOAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert}
}

func newRootCA(t *testing.T, cn string) *testCA {
	return newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil)
}

// newAttestationCert issues a packed attestation certificate (WebAuthn §8.2.1).
func newAttestationCert(t *testing.T, ca *testCA, aaguid uuid.UUID) *testCA {
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		t.Fatal(err)
	}
	return newCert(t, &x509.Certificate{
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Test Vendor"},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Test Authenticator"},
		BasicConstraintsValid: true, IsCA: false,
		ExtraExtensions: []pkix.Extension{{Id: oidFIDOAAGUID, Value: ext}},
	}, ca)
}

type mdsEntry struct {
	aaguid uuid.UUID
	root   *x509.Certificate
	status string
}

// makeBlob builds an MDS3 blob signed (ES256) by signer.
func makeBlob(t *testing.T, signer *testCA, entries ...mdsEntry) []byte {
	t.Helper()
	var es []any
	for _, e := range entries {
		status := e.status
		if status == "" {
			status = "FIDO_CERTIFIED_L1"
		}
		es = append(es, map[string]any{
			"aaguid": e.aaguid.String(),
			"metadataStatement": map[string]any{
				"aaguid": e.aaguid.String(), "description": "Test Authenticator", "schema": 3,
				"protocolFamily": "fido2", "attestationTypes": []string{"basic_full"},
				"attestationRootCertificates": []string{base64.StdEncoding.EncodeToString(e.root.Raw)},
			},
			"statusReports":          []any{map[string]any{"status": status, "effectiveDate": "2024-01-01"}},
			"timeOfLastStatusChange": "2024-01-01",
		})
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"legalHeader": "test blob", "no": 7, "nextUpdate": "2030-01-01", "entries": es,
	})
	s, err := tok.SignedString(signer.key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// withFullAttestation rewrites a virtualwebauthn registration response so
// that it carries a packed attestation signed by att (fmt "packed", x5c).
func withFullAttestation(t *testing.T, body string, att *testCA) string {
	t.Helper()
	return mutateAssertion(t, body, func(m map[string]any) {
		r := m["response"].(map[string]any)
		rawObj, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
		cdj, _ := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
		var obj struct {
			Fmt      string         `cbor:"fmt"`
			AttStmt  map[string]any `cbor:"attStmt"`
			AuthData []byte         `cbor:"authData"`
		}
		if err := cbor.Unmarshal(rawObj, &obj); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(cdj)
		digest := sha256.Sum256(append(append([]byte{}, obj.AuthData...), h[:]...))
		sig, err := ecdsa.SignASN1(rand.Reader, att.key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		obj.AttStmt = map[string]any{"alg": -7, "sig": sig, "x5c": []any{att.cert.Raw}}
		em, _ := cbor.CTAP2EncOptions().EncMode()
		out, err := em.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		r["attestationObject"] = base64.RawURLEncoding.EncodeToString(out)
	})
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
	blob := makeBlob(t, blobRoot, mdsEntry{aaguid: id, root: attRoot.cert})
	md, err := LoadMetadata(blob, blobRoot.cert, time.Now())
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
		"wrong root":   {blob, other.cert, time.Now()},
		"tampered":     {tampered, blobRoot.cert, time.Now()},
		"not a JWT":    {[]byte("hello"), blobRoot.cert, time.Now()},
		"empty":        {nil, blobRoot.cert, time.Now()},
		"expired root": {makeBlobX5C(t, blobRoot, id, attRoot.cert), blobRoot.cert, time.Now().Add(48 * time.Hour)},
	} {
		if _, err := LoadMetadata(c.blob, c.root, c.now); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadMetadata(makeBlobX5C(t, blobRoot, id, attRoot.cert), blobRoot.cert, time.Now()); err != nil {
		t.Errorf("x5c-signed blob: %v", err)
	}

	dir := t.TempDir()
	blobPath, rootPath := filepath.Join(dir, "blob.jwt"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(blobPath, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blobRoot.cert.Raw}), 0o600); err != nil {
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
	parts := strings.Split(string(makeBlob(t, leaf, mdsEntry{aaguid: id, root: attRoot})), ".")
	var hdr map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(raw, &hdr)
	hdr["x5c"] = []string{base64.StdEncoding.EncodeToString(leaf.cert.Raw)}
	hb, _ := json.Marshal(hdr)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, nil)
	tok.Header = hdr
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1]
	sig, err := tok.Method.Sign(signing, leaf.key)
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
	blob := makeBlob(t, blobRoot, mdsEntry{aaguid: good, root: attRoot.cert},
		mdsEntry{aaguid: revoked, root: attRoot.cert, status: "REVOKED"})
	md, err := LoadMetadata(blob, blobRoot.cert, time.Now())
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
	t.Run("profile without attestation ignores metadata", func(t *testing.T) {
		if err := registerWith(e, DefaultProfile(), unknown, self); err != nil {
			t.Fatal(err)
		}
	})
}
