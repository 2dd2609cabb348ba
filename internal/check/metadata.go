package check

import (
	"fmt"
	"time"

	"github.com/passkdc/passkdc/assertion"
)

// metadata checks the FIDO MDS3 blob: a profile with attestation: enforced
// needs one that loads and verifies (fatal otherwise: that profile could
// admit nobody), and a blob whose nextUpdate has passed is stale (the
// publisher may have revoked models since). A configured blob is checked
// even when no profile enforces attestation.
func (r *run) metadata() {
	profiles, def, err := r.cfg.PasskeyProfiles()
	if err != nil {
		r.fail("metadata", true, err.Error(), "correct the profiles section (profiles, default_profile)")
		return
	}
	enforcing := EnforcingProfile(profiles, def)
	m := r.cfg.Metadata
	if m.BlobFile == "" {
		if enforcing != "" {
			r.fail("metadata", true, fmt.Sprintf("profile %q enforces attestation but no FIDO metadata is configured", enforcing),
				"set metadata.blob_file (and metadata.root_file) to an MDS3 blob, or attestation: none on the profile")
			return
		}
		r.ok("metadata", "no profile enforces attestation; no metadata.blob_file")
		return
	}
	now := r.o.Now()
	md, err := assertion.LoadMetadataFile(m.BlobFile, m.RootFile, now)
	if err != nil {
		r.fail("metadata", true, fmt.Sprintf("metadata.blob_file %s: %v", m.BlobFile, err),
			"download a current blob from https://mds3.fidoalliance.org/ into metadata.blob_file, and check metadata.root_file")
		return
	}
	if !md.NextUpdate.IsZero() && now.After(md.NextUpdate) {
		r.fail("metadata", false, fmt.Sprintf("metadata.blob_file %s (number %d) is stale: its nextUpdate %s has passed",
			m.BlobFile, md.Number, md.NextUpdate.UTC().Format(time.DateOnly)),
			"download a current blob from https://mds3.fidoalliance.org/ into metadata.blob_file, then reload passkdc (SIGHUP)")
		return
	}
	r.ok("metadata", "%s: blob number %d, %d entries, next update %s", m.BlobFile, md.Number, md.Entries,
		md.NextUpdate.UTC().Format(time.DateOnly))
}

// EnforcingProfile names the first profile (the default one included) with
// attestation: enforced, or "" when none enforces it.
func EnforcingProfile(profiles []assertion.Profile, def assertion.Profile) string {
	for _, p := range append(append([]assertion.Profile(nil), profiles...), def) {
		if p.Attestation == assertion.AttestationEnforced {
			return p.Name
		}
	}
	return ""
}
