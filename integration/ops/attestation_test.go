package ops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/mdstest"
	"github.com/passkdc/passkdc/internal/softkey"
)

// attested is a software passkey whose registration carries a packed
// attestation signed by att, as an attested hardware key's does.
type attested struct {
	*softkey.Authenticator
	t   *testing.T
	att *mdstest.CA
}

func (a attested) Register(opts protocol.PublicKeyCredentialCreationOptions, origin string) ([]byte, error) {
	b, err := a.Authenticator.Register(opts, origin)
	if err != nil {
		return nil, err
	}
	return mdstest.PackedAttestation(a.t, b, a.att), nil
}

// TestServeEnforcesAttestationWithTheConfiguredMetadata runs `passkdc serve`
// with metadata.blob_file / root_file (an MDS3 blob and root the test made)
// and a profile for everyone with attestation: enforced: a model the blob
// lists, attested under its root, registers and signs in; an attestation
// under another root and a passkey without attestation are refused with
// attestation_refused and one audit record, and nothing is stored; after the
// blob is replaced by one that no longer lists the model and SIGHUP, the
// model is refused. serve refuses to start without metadata (naming the
// profile) and with a blob the root does not verify (naming the file).
func TestServeEnforcesAttestationWithTheConfiguredMetadata(t *testing.T) {
	passkdc := buildPasskdc(t)
	blobRoot, attRoot, rogue := mdstest.NewRoot(t, "Test MDS Root"), mdstest.NewRoot(t, "Test Attestation Root"), mdstest.NewRoot(t, "Rogue Root")
	model := uuid.UUID(softkey.AAGUID)
	dir := t.TempDir()
	blobFile, rootFile := filepath.Join(dir, "mds.jwt"), filepath.Join(dir, "mds-root.pem")
	writeFile(t, blobFile, mdstest.MakeBlob(t, blobRoot, mdstest.Entry{AAGUID: model, Root: attRoot.Cert}))
	writeFile(t, rootFile, blobRoot.PEM())
	const profile = "profiles: [{name: attested, target_groups: [\"*\"], attestation: enforced}]\nlog: {format: json}\n"
	port, oldPort := freePort(t), freePort(t)
	metadataKeys := fmt.Sprintf("metadata: {blob_file: %s, root_file: %s}\n", blobFile, rootFile)
	cfg := writeConfig(t, port, profile+metadataKeys)
	admin := adminCLI(t, passkdc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var c *client.Client
	register := func(name string, wrap func(*softkey.Authenticator) client.Authenticator) (client.Authenticator, error) {
		lines := strings.Split(strings.TrimSpace(admin("tap", "issue", "alice")), "\n")
		sk, err := softkey.Open(filepath.Join(dir, name+".passkey"))
		if err != nil {
			t.Fatal(err)
		}
		auth := wrap(sk)
		_, err = c.Register(ctx, lines[len(lines)-1], "", auth)
		return auth, err
	}
	withAtt := func(ca *mdstest.CA) func(*softkey.Authenticator) client.Authenticator {
		return func(sk *softkey.Authenticator) client.Authenticator {
			return attested{sk, t, mdstest.NewAttestationCert(t, ca, model)}
		}
	}
	plain := func(sk *softkey.Authenticator) client.Authenticator { return sk }

	// Before the profile existed: the same store, served without it, admits
	// a passkey without attestation.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oldCfg := filepath.Join(filepath.Dir(cfg), "before.yaml")
	writeFile(t, oldCfg, []byte(strings.ReplaceAll(strings.Replace(string(raw), profile+metadataKeys, "", 1), port, oldPort)))
	_, oldProc := serveProcess(t, passkdc, oldCfg, oldPort)
	if c, err = client.New("http://localhost:"+oldPort, ""); err != nil {
		t.Fatal(err)
	}
	legacy, err := register("legacy", plain)
	if err != nil {
		t.Fatalf("registration without a profile: %v", err)
	}
	_ = oldProc.Kill()

	logs, proc := serveProcess(t, passkdc, cfg, port)
	if c, err = client.New("http://localhost:"+port, ""); err != nil {
		t.Fatal(err)
	}
	// Now under attestation: enforced, the never-attested passkey is refused
	// at sign-in, telling the user to enrol again.
	if _, err := c.Login(ctx, "alice", legacy); err == nil || !strings.Contains(err.Error(), "enrol it again") {
		t.Fatalf("sign-in with a never-attested passkey under attestation: enforced: %v, want a refusal saying enrol it again", err)
	}

	good, err := register("good", withAtt(attRoot))
	if err != nil {
		t.Fatalf("registration attested under the blob's root refused: %v\n%s", err, logs.String())
	}
	if _, err := c.Login(ctx, "alice", good); err != nil {
		t.Fatalf("sign-in with the attested passkey: %v", err)
	}
	refused := func(name string, wrap func(*softkey.Authenticator) client.Authenticator) {
		t.Helper()
		before := strings.Count(logs.String(), `"reason":"attestation_refused"`)
		creds := admin("cred", "list", "alice", "--json")
		_, err := register(name, wrap)
		if err == nil || !strings.Contains(err.Error(), "attest") {
			t.Fatalf("%s: registration %v, want a refusal about attestation\n%s", name, err, logs.String())
		}
		// The audit line may reach stderr just after the response.
		waitFor(t, logs, func(s string) bool { return strings.Count(s, `"reason":"attestation_refused"`) > before })
		time.Sleep(200 * time.Millisecond)
		if n := strings.Count(logs.String(), `"reason":"attestation_refused"`) - before; n != 1 {
			t.Fatalf("%s: %d audit lines with reason attestation_refused, want 1 (client: %v)\n%s", name, n, err, logs.String())
		}
		if after := admin("cred", "list", "alice", "--json"); after != creds {
			t.Fatalf("%s: a refused registration changed the stored passkeys:\nbefore %s\nafter %s", name, creds, after)
		}
	}
	refused("rogue", withAtt(rogue))
	refused("unattested", plain)

	// The blob no longer lists the model: refused after SIGHUP.
	writeFile(t, blobFile, mdstest.MakeBlob(t, blobRoot, mdstest.Entry{AAGUID: uuid.New(), Root: attRoot.Cert}))
	loaded := strings.Count(logs.String(), "FIDO metadata loaded")
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, func(s string) bool { return strings.Count(s, "FIDO metadata loaded") > loaded })
	refused("delisted", withAtt(attRoot))

	// serve refuses to start without metadata, and with a blob its root does not verify.
	for _, tc := range []struct{ name, extra, want string }{
		{"no metadata", "", `profile "attested" enforces attestation`},
		{"wrong root", fmt.Sprintf("metadata: {blob_file: %s, root_file: %s}\n", blobFile, writeTemp(t, rogue.PEM())), "metadata.blob_file " + blobFile},
	} {
		p := freePort(t)
		out, err := exec.Command(passkdc, "serve", "--insecure-loopback", "--config", writeConfig(t, p, profile+tc.extra)).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Fatalf("%s: serve %v, want a failed start saying %q\n%s", tc.name, err, tc.want, out)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	writeFile(t, p, b)
	return p
}

// waitFor polls the server log for up to 10 s until ok holds.
func waitFor(t *testing.T, logs *lockedBuffer, ok func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok(logs.String()) {
			return
		}
	}
	t.Fatalf("the server log did not show the expected change within 10 s:\n%s", logs.String())
}
