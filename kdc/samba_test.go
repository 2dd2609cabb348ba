package kdc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/testenv"
)

// requireSambaPython returns a python3 that can import Samba's Kerberos test
// modules (Debian python3-samba). Missing: the test fails when CI=true and is
// skipped otherwise.
func requireSambaPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("/usr/bin/python3")
	if err == nil {
		err = exec.Command(py, "-c", "import samba.tests.krb5.kcrypto, samba.dcerpc.krb5pac").Run()
	}
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("python3 with the samba modules (python3-samba): %v", err))
	}
	return py
}

type sambaSig struct {
	OK   bool    `json:"ok"`
	Type int32   `json:"type"`
	RODC *uint16 `json:"rodc"`
	Len  int     `json:"len"`
}

type sambaResult struct {
	Trailing      int       `json:"trailing"`
	ReencodeEqual bool      `json:"reencode_equal"`
	Realm         string    `json:"realm"`
	SName         []string  `json:"sname"`
	SNameType     int       `json:"sname_type"`
	KVNO          int64     `json:"kvno"`
	Flags         string    `json:"flags"`
	CName         []string  `json:"cname"`
	AuthTime      string    `json:"authtime"`
	EndTime       string    `json:"endtime"`
	RenewTill     *string   `json:"renew_till"`
	TransitedType int       `json:"transited_type"`
	ADTypes       []int     `json:"ad_types"`
	InnerADTypes  []int     `json:"inner_ad_types"`
	RepackEqual   bool      `json:"repack_equal"`
	BufferTypes   []uint32  `json:"buffer_types"`
	Server        sambaSig  `json:"server"`
	KDC           sambaSig  `json:"kdc"`
	Ticket        *sambaSig `json:"ticket"`
	Full          *sambaSig `json:"full"`
	LogonInfo     struct {
		AccountName string     `json:"account_name"`
		FullName    string     `json:"full_name"`
		LogonTime   uint64     `json:"logon_time"`
		RID         uint32     `json:"rid"`
		PrimaryGID  uint32     `json:"primary_gid"`
		Groups      [][]uint32 `json:"groups"`
		UserFlags   uint32     `json:"user_flags"`
		LogonDomain string     `json:"logon_domain"`
		DomainSID   string     `json:"domain_sid"`
		AcctFlags   uint32     `json:"acct_flags"`
		SIDs        [][]any    `json:"sids"`
	} `json:"logon_info"`
	LogonName struct {
		Name string `json:"name"`
		Time uint64 `json:"time"`
	} `json:"logon_name"`
	UPNDNS struct {
		UPN   string `json:"upn"`
		DNS   string `json:"dns"`
		Flags uint32 `json:"flags"`
		SAM   string `json:"sam"`
		SID   string `json:"sid"`
	} `json:"upn_dns"`
	Attributes *struct {
		FlagsLength uint32 `json:"flags_length"`
		Flags       uint32 `json:"flags"`
	} `json:"attributes"`
	RequesterSID *string `json:"requester_sid"`
}

func runSambaVerify(t *testing.T, py string, iss *Issued, key, kdcKey TicketKey) sambaResult {
	t.Helper()
	in, _ := json.Marshal(map[string]any{
		"ticket": hex.EncodeToString(iss.TicketDER), "key": hex.EncodeToString(key.Key.KeyValue), "etype": key.Key.KeyType,
		"kdc_key": hex.EncodeToString(kdcKey.Key.KeyValue), "kdc_etype": kdcKey.Key.KeyType,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/samba_verify.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("samba_verify.py: %v\n%s", err, stderr.String())
	}
	var r sambaResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("samba_verify.py output %s: %v", out, err)
	}
	return r
}

// TestSambaDecodesPartialTGT has Samba's own code (pyasn1 RFC 4120 module,
// kcrypto, and the generated NDR parser the Samba KDC uses for PACs) decode
// and verify partial TGTs, including the DER re-encoding of the
// EncTicketPart behind the ticket signature.
func TestSambaDecodesPartialTGT(t *testing.T) {
	py := requireSambaPython(t)
	for _, kvno := range []uint32{7<<16 | 2, 40000<<16 | 1} {
		key := testKey(18, 5, kvno)
		pr := testPrincipal(t)
		iss, err := IssuePartialTGT(context.Background(), pr, key, DefaultTicketPolicy(), testNow)
		if err != nil {
			t.Fatal(err)
		}
		r := runSambaVerify(t, py, iss, key, key)
		rodc := uint16(kvno >> 16)
		checkSambaEnvelope(t, r, kvno)
		for name, s := range map[string]*sambaSig{"server": &r.Server, "kdc": &r.KDC, "ticket": r.Ticket, "full": r.Full} {
			if s == nil || !s.OK || s.Type != 16 {
				t.Errorf("%s signature per Samba: %+v", name, s)
				continue
			}
			if name != "server" && (s.RODC == nil || *s.RODC != rodc) {
				t.Errorf("%s RODC identifier %v, want %d", name, s.RODC, rodc)
			}
		}
		if r.Server.RODC != nil {
			t.Errorf("server signature has a trailer")
		}
		checkSambaPAC(t, r, iss)
	}
}

func checkSambaEnvelope(t *testing.T, r sambaResult, kvno uint32) {
	t.Helper()
	if r.Trailing != 0 || !r.ReencodeEqual {
		t.Errorf("EncTicketPart is not canonical DER for pyasn1 (trailing %d, re-encode equal %v)", r.Trailing, r.ReencodeEqual)
	}
	if r.Realm != testRealm || r.SNameType != 2 || len(r.SName) != 2 || r.SName[0] != "krbtgt" || r.SName[1] != testRealm {
		t.Errorf("sname %v/%d@%s", r.SName, r.SNameType, r.Realm)
	}
	if r.KVNO != int64(int32(kvno)) {
		t.Errorf("kvno %d, want %d", r.KVNO, int32(kvno))
	}
	if r.Flags != "01000000111000000000000000000000" {
		t.Errorf("flags %s", r.Flags)
	}
	if r.AuthTime != "20250304040607Z" || r.EndTime != "20250304140607Z" || r.RenewTill == nil || *r.RenewTill != "20250311040607Z" {
		t.Errorf("times %s %s %v", r.AuthTime, r.EndTime, r.RenewTill)
	}
	if len(r.ADTypes) != 1 || r.ADTypes[0] != 1 || len(r.InnerADTypes) != 1 || r.InnerADTypes[0] != 128 || r.TransitedType != 1 {
		t.Errorf("authorization data %v %v transited %d", r.ADTypes, r.InnerADTypes, r.TransitedType)
	}
}

func checkSambaPAC(t *testing.T, r sambaResult, iss *Issued) {
	t.Helper()
	if !equalU32(r.BufferTypes, []uint32{1, 10, 12, 17, 18, 6, 7, 16, 19}) {
		t.Errorf("buffers %v", r.BufferTypes)
	}
	if !r.RepackEqual {
		t.Errorf("Samba's NDR re-encodes the PAC differently")
	}
	li := r.LogonInfo
	authFT := uint64(iss.AuthTime.Unix())*10000000 + 116444736000000000
	if li.AccountName != "alice" || li.FullName != "Alice Example" || li.RID != 1105 || li.PrimaryGID != 513 ||
		len(li.Groups) != 1 || li.Groups[0][0] != 513 || li.Groups[0][1] != 7 || li.LogonDomain != "CORP" ||
		li.DomainSID != "S-1-5-21-1004336348-1177238915-682003330" || li.AcctFlags != 0x10 || li.LogonTime != authFT {
		t.Errorf("LOGON_INFO per Samba %+v", li)
	}
	if r.LogonName.Name != "alice" || r.LogonName.Time != authFT {
		t.Errorf("LOGON_NAME per Samba %+v, want time %d", r.LogonName, authFT)
	}
	u := r.UPNDNS
	if u.UPN != "alice@corp.example.test" || u.DNS != "CORP.EXAMPLE.TEST" || u.Flags != 3 || u.SAM != "alice" ||
		u.SID != "S-1-5-21-1004336348-1177238915-682003330-1105" {
		t.Errorf("UPN_DNS_INFO per Samba %+v", u)
	}
	if r.Attributes == nil || r.Attributes.FlagsLength != 2 || r.Attributes.Flags != 1 {
		t.Errorf("ATTRIBUTES_INFO per Samba %+v", r.Attributes)
	}
	if r.RequesterSID == nil || *r.RequesterSID != "S-1-5-21-1004336348-1177238915-682003330-1105" {
		t.Errorf("REQUESTER_SID per Samba %v", r.RequesterSID)
	}
}

// TestSambaDecodesServiceTicket checks a service ticket under a normal key
// signed by a separate KDC key.
func TestSambaDecodesServiceTicket(t *testing.T) {
	py := requireSambaPython(t)
	svc, kdcKey := testKey(18, 9, 2), testKey(18, 10, 1)
	server := types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: []string{"host", "srv.corp.example.test"}}
	iss, err := IssueTicket(context.Background(), testPrincipal(t), server, testRealm, svc, DefaultTicketPolicy(), testNow,
		IssueOptions{KDCKey: &kdcKey})
	if err != nil {
		t.Fatal(err)
	}
	r := runSambaVerify(t, py, iss, svc, kdcKey)
	if !r.Server.OK || !r.KDC.OK || r.Ticket == nil || !r.Ticket.OK || r.Full == nil || !r.Full.OK ||
		r.KDC.RODC != nil || r.Ticket.RODC != nil || r.Full.RODC != nil || r.KVNO != 2 || !r.RepackEqual {
		t.Errorf("Samba verification %+v", r)
	}
	if !equalU32(r.BufferTypes, []uint32{1, 10, 12, 6, 7, 16, 19}) {
		t.Errorf("buffers %v", r.BufferTypes)
	}
}
