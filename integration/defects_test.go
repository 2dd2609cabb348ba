package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/pac"
	"github.com/passkdc/passkdc/keytabs"
)

// defect is one way of spoiling passkdc's partial TGT, and whether every DC
// must refuse it (mustRefuse) or the test only records what this DC does.
type defect struct {
	name       string
	mustRefuse bool
	issue      func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error)
}

func krbtgtName(realm string) types.PrincipalName {
	return types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}}
}

// defects lists the tickets presented to the DC: made by kdc with options
// or another key, or passkdc's genuine ticket with its PAC changed in one
// place and the signatures covering that place made again (tamperPAC), so
// that each ticket has exactly one defect. otherRID is another user's RID.
func defects(t *testing.T, realm string, otherRID uint32) []defect {
	pol := kdc.DefaultTicketPolicy()
	opts := func(o kdc.IssueOptions) func(context.Context, kdc.Principal, kdc.TicketKey) (*kdc.Issued, error) {
		return func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
			return kdc.IssueTicket(ctx, p, krbtgtName(realm), realm, key, pol, time.Now(), o)
		}
	}
	otherKey := func(key kdc.TicketKey) kdc.TicketKey {
		et, err := crypto.GetEtype(key.Key.KeyType)
		if err != nil {
			t.Fatal(err)
		}
		k, err := types.GenerateEncryptionKey(et)
		if err != nil {
			t.Fatal(err)
		}
		return kdc.TicketKey{Key: k, KVNO: key.KVNO}
	}
	tampered := func(edit func(*pac.Parsed) error, resign ...uint32) func(context.Context, kdc.Principal, kdc.TicketKey) (*kdc.Issued, error) {
		return func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
			iss, err := opts(kdc.IssueOptions{})(ctx, p, key)
			if err != nil {
				return nil, err
			}
			return tamperPAC(iss, key, edit, resign...)
		}
	}
	all := []uint32{pac.TypeFullChecksum, pac.TypeServerChecksum, pac.TypeKDCChecksum}
	return []defect{
		{"genuine (passkdc's ticket)", false, opts(kdc.IssueOptions{})},
		{"genuine, re-signed by the test (checks tamperPAC)", false, tampered(nil, all...)},
		{"KDC checksum wrong", false, tampered(flipSig(pac.TypeKDCChecksum))},
		{"server checksum wrong", true, tampered(flipSig(pac.TypeServerChecksum), pac.TypeKDCChecksum)},
		{"ticket checksum wrong", false, tampered(flipSig(pac.TypeTicketChecksum), all...)},
		{"full checksum wrong", false, tampered(flipSig(pac.TypeFullChecksum), pac.TypeServerChecksum, pac.TypeKDCChecksum)},
		{"REQUESTER_SID of another user", true, tampered(setRequesterRID(otherRID), all...)},
		{"CLIENT_INFO name off (last letter)", true, tampered(clientInfoName, all...)},
		{"CLIENT_INFO time off (+1 s)", true, tampered(clientInfoTime(10_000_000), all...)},
		{"ticket checksum missing", false, opts(kdc.IssueOptions{OmitTicketChecksum: true})},
		{"full checksum missing", false, opts(kdc.IssueOptions{OmitFullChecksum: true})},
		{"ticket and full checksums missing", false, opts(kdc.IssueOptions{OmitTicketChecksum: true, OmitFullChecksum: true})},
		// Recorded only: Samba 4.17 and 4.22 both accept it (they check the
		// ticket's encryption, not the KDC-key signatures of an RODC's TGT).
		{"KDC, ticket and full checksums wrong (other KDC key)", false,
			func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
				k := otherKey(key)
				return opts(kdc.IssueOptions{KDCKey: &k})(ctx, p, key)
			}},
		{"ticket encrypted and server-signed under another key", true,
			func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
				return opts(kdc.IssueOptions{})(ctx, p, otherKey(key))
			}},
		{"wrong kvno (version + 1)", true,
			func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
				key.KVNO++
				return opts(kdc.IssueOptions{})(ctx, p, key)
			}},
		{"wrong RODC number (N + 1)", true,
			func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
				key.KVNO += 1 << 16
				return opts(kdc.IssueOptions{})(ctx, p, key)
			}},
		{"expired (authtime 11 h ago, 10 h lifetime)", true,
			func(ctx context.Context, p kdc.Principal, key kdc.TicketKey) (*kdc.Issued, error) {
				return kdc.IssueTicket(ctx, p, krbtgtName(realm), realm, key, pol, time.Now().Add(-pol.Lifetime-time.Hour),
					kdc.IssueOptions{})
			}},
	}
}

// TestDefectMatrix presents partial TGTs with one defect each to the DC of
// the selected generation (PASSKDC_SAMBA_GENERATION) through MIT kvno, and
// prints one DEFECT-MATRIX line per ticket: accepted, or refused with the
// DC's error. passkdc's genuine ticket must pass; forged keys, a wrong kvno
// or RODC number and an expired ticket must be refused.
func TestDefectMatrix(t *testing.T) {
	f := domain(t)
	kvno := testenv.RequireTool(t, "kvno")
	kt, err := keytabs.Load(f.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	key := kdc.TicketKey{Key: kt.Entries[0].Key, KVNO: kt.Entries[0].KVNO}
	sid, err := pac.ParseSID(f.users["alice"].SID)
	if err != nil {
		t.Fatal(err)
	}
	p := kdc.Principal{Name: "alice", Realm: f.dc.Realm(), SID: sid}
	svc := "cifs/" + f.dc.FQDN()
	other, err := pac.ParseSID(f.users["bob"].SID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defects(t, f.dc.Realm(), other.RID()) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			iss, err := d.issue(ctx, p, key)
			if err != nil {
				t.Fatal(err)
			}
			out, err := run(ctx, f.clientEnv(writeCache(t, iss)), kvno, svc)
			result := "accepted"
			if err != nil {
				result = "refused: " + dcError(out)
			}
			line := fmt.Sprintf("DEFECT-MATRIX samba=%s defect=%q result=%s", f.dc.Generation(), d.name, result)
			t.Log(line)
			recordMatrix(t, line)
			switch {
			case strings.HasPrefix(d.name, "genuine") && err != nil:
				t.Errorf("the DC refused passkdc's genuine ticket:\n%s", out)
			case d.mustRefuse && err == nil:
				t.Errorf("the DC accepted a ticket with %s", d.name)
			}
		})
	}
}

// matrixEnv names a file the matrix lines are appended to (scripts/test
// prints it: go test hides the logs of passing tests).
const matrixEnv = "PASSKDC_DEFECT_MATRIX"

func recordMatrix(t *testing.T, line string) {
	path := os.Getenv(matrixEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatal(err)
	}
}

// dcError is the last line of kvno's output with the program name removed.
func dcError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if _, rest, ok := strings.Cut(last, ": "); ok && strings.HasPrefix(last, "kvno") {
		return rest
	}
	return last
}
