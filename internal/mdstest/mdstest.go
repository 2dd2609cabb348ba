// Package mdstest makes FIDO metadata (MDS3) fixtures for tests: a blob
// signing root, attestation roots, packed attestation certificates carrying
// an AAGUID, signed metadata blobs, and the rewrite of a WebAuthn
// registration response so that it carries a packed (x5c) attestation. Tests
// of the relying party and end-to-end tests of `passkdc serve` share it.
package mdstest

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
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// CA is a key and its certificate.
type CA struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
}

// PEM is the certificate in PEM form.
func (c *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

var oidFIDOAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// NewCert issues tmpl with a new P-256 key, signed by parent (self-signed
// when parent is nil), valid from an hour ago for a day unless tmpl says.
func NewCert(t testing.TB, tmpl *x509.Certificate, parent *CA) *CA {
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
		signer, parentCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Key: key, Cert: cert}
}

// NewRoot makes a self-signed CA named cn.
func NewRoot(t testing.TB, cn string) *CA {
	return NewCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil)
}

// NewAttestationCert issues a packed attestation certificate (WebAuthn
// §8.2.1) for the authenticator model aaguid under ca.
func NewAttestationCert(t testing.TB, ca *CA, aaguid uuid.UUID) *CA {
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		t.Fatal(err)
	}
	return NewCert(t, &x509.Certificate{
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Test Vendor"},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Test Authenticator"},
		BasicConstraintsValid: true, IsCA: false,
		ExtraExtensions: []pkix.Extension{{Id: oidFIDOAAGUID, Value: ext}},
	}, ca)
}

// Entry is one authenticator model in a blob.
type Entry struct {
	AAGUID uuid.UUID
	Root   *x509.Certificate // its attestation root
	Status string            // default FIDO_CERTIFIED_L1
}

// MakeBlob builds an MDS3 blob (serial number 7, nextUpdate 2030-01-01)
// signed (ES256) by signer.
func MakeBlob(t testing.TB, signer *CA, entries ...Entry) []byte {
	t.Helper()
	return MakeBlobNextUpdate(t, signer, "2030-01-01", entries...)
}

// MakeBlobNextUpdate is MakeBlob with the blob's nextUpdate (YYYY-MM-DD).
func MakeBlobNextUpdate(t testing.TB, signer *CA, nextUpdate string, entries ...Entry) []byte {
	t.Helper()
	es := []any{}
	for _, e := range entries {
		status := e.Status
		if status == "" {
			status = "FIDO_CERTIFIED_L1"
		}
		es = append(es, map[string]any{
			"aaguid": e.AAGUID.String(),
			"metadataStatement": map[string]any{
				"aaguid": e.AAGUID.String(), "description": "Test Authenticator", "schema": 3,
				"protocolFamily": "fido2", "attestationTypes": []string{"basic_full"},
				"attestationRootCertificates": []string{base64.StdEncoding.EncodeToString(e.Root.Raw)},
			},
			"statusReports":          []any{map[string]any{"status": status, "effectiveDate": "2024-01-01"}},
			"timeOfLastStatusChange": "2024-01-01",
		})
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"legalHeader": "test blob", "no": 7, "nextUpdate": nextUpdate, "entries": es,
	})
	s, err := tok.SignedString(signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// PackedAttestation rewrites a registration response (the JSON of a
// PublicKeyCredential) so that it carries a packed attestation signed by
// att (fmt "packed", x5c), as an attested hardware authenticator sends.
func PackedAttestation(t testing.TB, body []byte, att *CA) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
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
	sig, err := ecdsa.SignASN1(rand.Reader, att.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	obj.Fmt = "packed"
	obj.AttStmt = map[string]any{"alg": -7, "sig": sig, "x5c": []any{att.Cert.Raw}}
	em, _ := cbor.CTAP2EncOptions().EncMode()
	out, err := em.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	r["attestationObject"] = base64.RawURLEncoding.EncodeToString(out)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
