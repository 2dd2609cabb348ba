package serve

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/assertion"
)

// loadMetadata reads and verifies the configured FIDO MDS3 blob (nil when
// none is configured). A blob that cannot be read or whose signature does
// not chain to the root is an error naming the file: serve does not start
// with attestation it cannot check.
func (a *App) loadMetadata() (*assertion.Metadata, error) {
	m := a.cfg.Metadata
	if m.BlobFile == "" {
		return nil, nil
	}
	md, err := assertion.LoadMetadataFile(m.BlobFile, m.RootFile, a.now())
	if err != nil {
		return nil, fmt.Errorf("metadata.blob_file %s: %w (download a current blob from https://mds3.fidoalliance.org/, and check metadata.root_file)", m.BlobFile, err)
	}
	a.log.WithFields(metadataFields(md, m.BlobFile)).Info("FIDO metadata loaded")
	return md, nil
}

func metadataFields(md *assertion.Metadata, path string) logrus.Fields {
	return logrus.Fields{"metadata_file": path, "metadata_number": md.Number,
		"metadata_next_update": md.NextUpdate.UTC().Format("2006-01-02"), "metadata_entries": md.Entries,
		"metadata_skipped": md.Skipped}
}

// ReloadMetadata re-reads the metadata blob (serve calls it on SIGHUP). A blob
// that does not load leaves the one in use in place and is logged; the error
// is returned.
func (a *App) ReloadMetadata() error {
	if a.cfg.Metadata.BlobFile == "" {
		return nil
	}
	md, err := a.loadMetadata()
	if err == nil {
		err = a.rp.SetMetadata(md)
	}
	if err != nil {
		a.log.WithError(err).Error("FIDO metadata not reloaded; the previous blob stays in use")
	}
	return err
}
