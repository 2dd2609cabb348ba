package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/mdstest"
	"github.com/passkdc/passkdc/rodc"
)

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func only(t *testing.T, r *run, name string) Result {
	t.Helper()
	if len(r.results) != 1 || r.results[0].Name != name {
		t.Fatalf("want one %q result, got %+v", name, r.results)
	}
	return r.results[0]
}

func TestMetadataPresentAndFresh(t *testing.T) {
	dir := t.TempDir()
	root, other := mdstest.NewRoot(t, "MDS root"), mdstest.NewRoot(t, "other root")
	entry := mdstest.Entry{AAGUID: uuid.New(), Root: mdstest.NewRoot(t, "attestation root").Cert}
	fresh := write(t, dir, "fresh.jwt", mdstest.MakeBlob(t, root, entry))
	stale := write(t, dir, "stale.jwt", mdstest.MakeBlobNextUpdate(t, root, "2026-11-01", entry))
	rootFile, otherFile := write(t, dir, "root.pem", root.PEM()), write(t, dir, "other.pem", other.PEM())
	enforced := []config.ProfileConfig{{Name: "hw", TargetGroups: []string{"*"}, Attestation: "enforced"}}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		profiles  []config.ProfileConfig
		md        config.Metadata
		ok, fatal bool
		want      string
	}{
		{"no profile needs metadata, no blob", nil, config.Metadata{}, true, false, "no profile needs FIDO metadata"},
		{"aaguid_allow without a blob", []config.ProfileConfig{{Name: "models", TargetGroups: []string{"*"}, AAGUIDAllow: []string{uuid.NewString()}}},
			config.Metadata{}, false, true, `profile "models" has an aaguid_allow list`},
		{"enforced without a blob", enforced, config.Metadata{}, false, true, `profile "hw" enforces attestation`},
		{"enforced, fresh blob", enforced, config.Metadata{BlobFile: fresh, RootFile: rootFile}, true, false, "next update 2030-01-01"},
		{"enforced, stale blob", enforced, config.Metadata{BlobFile: stale, RootFile: rootFile}, false, false, "nextUpdate 2026-11-01 has passed"},
		{"enforced, blob of another root", enforced, config.Metadata{BlobFile: fresh, RootFile: otherFile}, false, true, "metadata.blob_file " + fresh},
		{"enforced, blob missing", enforced, config.Metadata{BlobFile: filepath.Join(dir, "gone.jwt"), RootFile: rootFile}, false, true, "gone.jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Profiles: tc.profiles, Metadata: tc.md}
			r := &run{o: Options{Config: cfg, Now: func() time.Time { return now }}, cfg: cfg}
			r.metadata()
			got := only(t, r, "metadata")
			if got.OK != tc.ok || got.Fatal != tc.fatal || !strings.Contains(got.Detail+got.Problem, tc.want) {
				t.Fatalf("got %+v, want ok=%v fatal=%v mentioning %q", got, tc.ok, tc.fatal, tc.want)
			}
			if !got.OK && !strings.Contains(got.Fix, "metadata.blob_file") {
				t.Errorf("fix %q does not name metadata.blob_file", got.Fix)
			}
		})
	}
}

func TestPolicyGroupsResolve(t *testing.T) {
	dom := "S-1-5-21-1-2-3"
	for _, tc := range []struct {
		name      string
		obj       rodc.RODC
		ok, fatal bool
		want      string
	}{
		{"resolved", rodc.RODC{Allow: []string{dom + "-571"}, Deny: []string{dom + "-572"}}, true, false, "1 reveal, 1 never-reveal"},
		{"never-reveal value without SID", rodc.RODC{Allow: []string{dom + "-571"}, ComputerDN: "CN=P,OU=Domain Controllers,DC=x",
			Unresolved: []string{"OU=Gone,DC=x"}}, false, true, "OU=Gone,DC=x"},
		{"no reveal group", rodc.RODC{Deny: []string{dom + "-572"}}, false, false, "msDS-RevealOnDemandGroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{cfg: &config.Config{}}
			r.policy(&tc.obj)
			got := only(t, r, "policy")
			if got.OK != tc.ok || got.Fatal != tc.fatal || !strings.Contains(got.Detail+got.Problem, tc.want) {
				t.Fatalf("got %+v, want ok=%v fatal=%v mentioning %q", got, tc.ok, tc.fatal, tc.want)
			}
		})
	}
}

func TestReportErrListsEveryFatalProblemWithItsFix(t *testing.T) {
	rep := Report{Results: []Result{
		{Name: "tls", OK: true},
		{Name: "keytab", Problem: "keytab k is 0644", Fix: "chmod 600 k", Fatal: true},
		{Name: "origins", Problem: "port differs", Fix: "make it the listen port"},
		{Name: "key", Problem: "version 1, DC at 2", Fix: "passkdc keytab import", Fatal: true},
	}}
	err := rep.Err()
	if err == nil {
		t.Fatal("no error for fatal problems")
	}
	for _, want := range []string{"2 pre-flight check(s) failed", "keytab: keytab k is 0644", "fix: chmod 600 k", "key: version 1, DC at 2", "fix: passkdc keytab import"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "port differs") {
		t.Errorf("a warning is listed as fatal:\n%s", err)
	}
	if w := rep.Warnings(); len(w) != 1 || w[0].Name != "origins" {
		t.Errorf("warnings %+v, want origins only", w)
	}
	if (Report{Results: []Result{{Name: "a", OK: true}, {Name: "b", Problem: "p"}}}).Err() != nil {
		t.Error("warnings alone must not stop serve")
	}
}
