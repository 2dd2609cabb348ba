package check

import (
	"fmt"
	"time"

	"github.com/passkdc/passkdc/assertion"
)

// metadata checks the FIDO MDS3 blob: a profile with attestation: enforced
// or an aaguid_allow list needs one that loads and verifies (fatal
// otherwise: that profile could admit nobody), and a blob whose nextUpdate has passed is stale (the
// publisher may have revoked models since). A configured blob is checked
// even when no profile enforces attestation.
func (r *run) metadata() {
	profiles, def, err := r.cfg.PasskeyProfiles()
	if err != nil {
		r.fail("metadata", true, err.Error(), "correct the profiles section (profiles, default_profile)")
		return
	}
	name, why := NeedingMetadata(profiles, def)
	m := r.cfg.Metadata
	if m.BlobFile == "" {
		if name != "" {
			r.fail("metadata", true, fmt.Sprintf("profile %q %s, but no FIDO metadata is configured", name, why),
				"set metadata.blob_file (and metadata.root_file) to an MDS3 blob, or change the profile (attestation: none, aaguid_block instead of aaguid_allow)")
			return
		}
		r.ok("metadata", "no profile needs FIDO metadata (attestation: enforced or aaguid_allow); no metadata.blob_file")
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

// NeedingMetadata names the first profile (the default one included) that
// can admit anyone only with FIDO metadata (assertion.Profile.NeedsMetadata:
// attestation: enforced, or an aaguid_allow list) and why; "" when none.
func NeedingMetadata(profiles []assertion.Profile, def assertion.Profile) (name, why string) {
	for _, p := range append(append([]assertion.Profile(nil), profiles...), def) {
		if needs, why := p.NeedsMetadata(); needs {
			return p.Name, why
		}
	}
	return "", ""
}
