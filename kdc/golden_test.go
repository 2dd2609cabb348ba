package kdc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"testing/cryptotest"

	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/kdc/pac"
	"github.com/passkdc/passkdc/kdc/sid"
)

// goldenCase is one issuance whose bytes are pinned.
type goldenCase struct {
	name    string
	derive  bool // issue with WithDerivedKeys
	etype   int32
	client  func(t testing.TB) Principal
	service bool // a service ticket with a separate KDC key instead of a partial TGT
	opts    IssueOptions
	// digests are the SHA-256 of the ticket and of the KRB-CRED, as the
	// encoders produced them before they were tuned for speed.
	digests [2]string
}

func goldenCases() []goldenCase {
	groups := func(t testing.TB) Principal {
		p := testPrincipal(t)
		dom := p.SID.Domain()
		builtin, err := sid.Parse("S-1-5-32-545")
		if err != nil {
			t.Fatal(err)
		}
		other, err := sid.Parse("S-1-5-21-1-2-3-1106")
		if err != nil {
			t.Fatal(err)
		}
		p.Groups = []pac.SID{dom.WithRID(1200), dom.WithRID(513), builtin, other, dom.WithRID(1200), builtin, dom.WithRID(512)}
		p.PrimaryGroupRID = 1200
		return p
	}
	constructed := func(t testing.TB) Principal {
		p := testPrincipal(t)
		p.UPN, p.DNSDomain, p.NetBIOSDomain = "", "", ""
		p.Name, p.DisplayName = "Zoë.Ünïcode", "Zoë Ünïcode"
		return p
	}
	upn := func(t testing.TB) Principal {
		p := testPrincipal(t)
		p.UPN, p.DNSDomain = "alice.example@example.org", "Corp.Éxample.Test"
		return p
	}
	return []goldenCase{
		{name: "partial TGT, derived", derive: true, etype: 18, client: testPrincipal,
			digests: [2]string{"36f8135cb328a664ad572b5777b66c792e6831175d5e0c3db13e8537e925682c",
				"f01ee6ed781b17c7cd2c1c26a56f4917a110c8a7cc070717f556249ea3bd7930"}},
		{name: "partial TGT", etype: 18, client: testPrincipal,
			digests: [2]string{"36f8135cb328a664ad572b5777b66c792e6831175d5e0c3db13e8537e925682c",
				"f01ee6ed781b17c7cd2c1c26a56f4917a110c8a7cc070717f556249ea3bd7930"}},
		{name: "aes128, derived, groups", derive: true, etype: 17, client: groups,
			digests: [2]string{"eaf7b087f477a026b4f5f50f4ef281cc7cab40a90fd3a53f4f7ecc815836ffb1",
				"d27e08fe5c0728736dbaeea16f282770f92c164b0b5660f166d86672224830b6"}},
		{name: "constructed UPN, non-ASCII", derive: true, etype: 18, client: constructed,
			digests: [2]string{"3e9ade16ad944025221f2dad1787e10def4772f5e13e2ef30afcf07476c489d1",
				"f12a5153aad640bedd21a3d54b5b7265012f4af08af759a9d99811690ec26cae"}},
		{name: "UPN, mixed-case DNS domain", etype: 17, client: upn,
			digests: [2]string{"6ace935602dc7025c7147ccc41967cd37aff4e08bc0336af40d1b3e78430d3ef",
				"601a0a0cd67d05a93d55b6fa85f9a27f40edf55c4fd2794bc6ef71854e994e16"}},
		{name: "service ticket, options", derive: true, etype: 18, client: groups, service: true,
			opts: IssueOptions{OmitFullChecksum: true, LogonServer: "DC1", Flags: []int{flags.Forwardable, flags.Proxiable}},
			digests: [2]string{"d38c7cb3a6c94a578ff6a8f1d49aa66db934aa11b6df74ba46b760407bc83de4",
				"da372847b312487af10c8bc0bb5b02394eb934fc3aa5fad434edfce53a1a3357"}},
		{name: "no ticket checksum", etype: 18, client: testPrincipal, opts: IssueOptions{OmitTicketChecksum: true},
			digests: [2]string{"f4382461739e8bb86b06918d458c22d2727cff0ae2b68e0d299e3f35978be0f1",
				"70ec8514baafa51b1b00fb01751576d2642933103f46e8ef60e7e2d446223a70"}},
		{name: "no PAC", etype: 18, client: testPrincipal, opts: IssueOptions{NoPAC: true},
			digests: [2]string{"d18b4462ab7d8cc4813432e48a1e4d512eae6cd25bf07928404969674cf8e16c",
				"f287926e0846a7aabc9bfd67a03fa9ff7e4b457245f418dba223945b633018e0"}},
	}
}

// goldenIssue issues tc and seals it in a KRB-CRED the way issuer.Seal
// does, under a fixed key: crypto/rand is seeded, so every byte is fixed.
func goldenIssue(t *testing.T, tc goldenCase) (ticket, cred []byte) {
	t.Helper()
	key := testKey(tc.etype, 9, 40000<<16|3)
	if tc.derive {
		var err error
		if key, err = key.WithDerivedKeys(); err != nil {
			t.Fatal(err)
		}
	}
	pol := DefaultTicketPolicy()
	var iss *Issued
	var err error
	if tc.service {
		kdcKey := testKey(18, 10, 1)
		server := types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"HTTP", "web.corp.example.test"}}
		opts := tc.opts
		opts.KDCKey = &kdcKey
		iss, err = IssueTicket(context.Background(), tc.client(t), server, testRealm, key, pol, testNow, opts)
	} else if tc.opts.OmitTicketChecksum || tc.opts.NoPAC {
		sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", testRealm}}
		iss, err = IssueTicket(context.Background(), tc.client(t), sname, testRealm, key, pol, testNow, tc.opts)
	} else {
		iss, err = IssuePartialTGT(context.Background(), tc.client(t), key, pol, testNow)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := krbcred.Cred{Tickets: [][]byte{iss.TicketDER}, Infos: []krbcred.Info{{
		Key: iss.SessionKey, PRealm: iss.CRealm, PName: iss.CName, Flags: ccache.FlagsFromBitString(iss.Flags),
		AuthTime: iss.AuthTime, StartTime: iss.StartTime, EndTime: iss.EndTime, RenewTill: iss.RenewTill,
		SRealm: iss.SRealm, SName: iss.SName,
	}}}
	sealKey := testKey(tc.etype, 0x5a, 0).Key
	if cred, err = c.Marshal(&sealKey); err != nil {
		t.Fatal(err)
	}
	return iss.TicketDER, cred
}

// TestIssuanceIsByteForByteTheSame pins the SHA-256 of the ticket and of the
// sealed KRB-CRED of each shape of issuance with crypto/rand seeded: the
// encoders and the encryption may be rewritten for speed, but not one byte
// of what they produce may change (the Windows, Samba and MIT tests check
// what the bytes mean; this checks that they stay these bytes). The digests
// depend on the stream testing/cryptotest derives from the seed and on the
// order the random bytes are drawn in (session key, then confounders): a
// change of either needs the digests re-pinned from the unchanged encoders.
func TestIssuanceIsByteForByteTheSame(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 18)
			ticket, cred := goldenIssue(t, tc)
			ts, cs := sha256.Sum256(ticket), sha256.Sum256(cred)
			got := [2]string{hex.EncodeToString(ts[:]), hex.EncodeToString(cs[:])}
			if got != tc.digests {
				t.Errorf("ticket sha256 %s, KRB-CRED sha256 %s; want %s, %s", got[0], got[1], tc.digests[0], tc.digests[1])
			}
		})
	}
}
