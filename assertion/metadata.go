package assertion

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/metadata/providers/memory"
	"github.com/golang-jwt/jwt/v5"
)

// maxMetadataBlob bounds the metadata blob file (the real one is ~5 MB).
const maxMetadataBlob = 64 << 20

// Metadata is a FIDO MDS3 metadata blob loaded offline, used by profiles that
// enforce attestation.
type Metadata struct {
	provider   metadata.Provider
	Number     int       // blob serial number
	NextUpdate time.Time // when the publisher promised the next blob
	Entries    int       // entries usable
	Skipped    int       // entries that failed to parse (ignored)
}

// LoadMetadataFile reads a metadata blob (the JWT served by
// https://mds3.fidoalliance.org/) from blobPath and verifies its signature
// offline against the PEM root certificate in rootPEMPath, or against the
// FIDO Alliance production root when rootPEMPath is empty. now is the time at
// which the signing chain must be valid.
func LoadMetadataFile(blobPath, rootPEMPath string, now time.Time) (*Metadata, error) {
	blob, err := readLimited(blobPath, maxMetadataBlob)
	if err != nil {
		return nil, fmt.Errorf("metadata blob: %w", err)
	}
	var root *x509.Certificate
	if rootPEMPath == "" {
		der, err := base64.StdEncoding.DecodeString(metadata.ProductionMDSRoot)
		if err != nil {
			return nil, fmt.Errorf("production MDS root: %w", err)
		}
		if root, err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("production MDS root: %w", err)
		}
	} else {
		pemBytes, err := readLimited(rootPEMPath, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("metadata root: %w", err)
		}
		blk, _ := pem.Decode(pemBytes)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("metadata root %s: no PEM certificate", rootPEMPath)
		}
		if root, err = x509.ParseCertificate(blk.Bytes); err != nil {
			return nil, fmt.Errorf("metadata root: %w", err)
		}
	}
	return LoadMetadata(blob, root, now)
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// LoadMetadata verifies blob (a compact JWS) against root and builds the
// metadata provider. Unlike go-webauthn's decoder it never touches the
// network: the signing chain (x5c header, or the root itself) is verified
// with crypto/x509 at time now, without CRL or OCSP fetching.
func LoadMetadata(blob []byte, root *x509.Certificate, now time.Time) (*Metadata, error) {
	if root == nil {
		return nil, errors.New("metadata: nil root certificate")
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}),
		jwt.WithTimeFunc(func() time.Time { return now }))
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(string(blob), claims, func(t *jwt.Token) (any, error) {
		return signingKey(t, root, now)
	}); err != nil {
		return nil, fmt.Errorf("metadata blob signature: %w", err)
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("metadata payload: %w", err)
	}
	var payload metadata.PayloadJSON
	if err := json.Unmarshal(raw, &payload); err != nil {
		return nil, fmt.Errorf("metadata payload: %w", err)
	}
	dec, err := metadata.NewDecoder(metadata.WithIgnoreEntryParsingErrors())
	if err != nil {
		return nil, fmt.Errorf("metadata decoder: %w", err)
	}
	md, err := dec.Parse(&payload)
	if err != nil {
		return nil, fmt.Errorf("metadata payload: %w", err)
	}
	prov, err := memory.New(
		memory.WithMetadata(md.ToMap()),
		memory.WithMetadataKeyIdentifiers(md.ToKeyIdentifierMap()),
		memory.WithValidateEntry(true),
		memory.WithValidateEntryPermitZeroAAGUID(false),
		memory.WithValidateTrustAnchor(true),
		memory.WithValidateStatus(true),
		memory.WithValidateAttestationTypes(true),
	)
	if err != nil {
		return nil, fmt.Errorf("metadata provider: %w", err)
	}
	return &Metadata{provider: prov, Number: md.Parsed.Number, NextUpdate: md.Parsed.NextUpdate,
		Entries: len(md.Parsed.Entries), Skipped: len(md.Unparsed)}, nil
}

// signingKey returns the public key of the blob's signing certificate after
// verifying its chain to root.
func signingKey(t *jwt.Token, root *x509.Certificate, now time.Time) (any, error) {
	if _, ok := t.Header["x5u"]; ok {
		return nil, errors.New("x5u header is not supported offline")
	}
	x5c, ok := t.Header["x5c"].([]any)
	if !ok || len(x5c) == 0 {
		return root.PublicKey, nil // the root signs the blob itself
	}
	certs := make([]*x509.Certificate, len(x5c))
	for i, v := range x5c {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("x5c entry is not a string")
		}
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("x5c entry %d: %w", i, err)
		}
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("x5c entry %d: %w", i, err)
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("metadata signing chain: %w", err)
	}
	return certs[0].PublicKey, nil
}
