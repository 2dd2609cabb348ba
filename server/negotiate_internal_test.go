package server

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/assertion"
)

func TestKerberosProfilesApplyEnrolWithAndMaxAge(t *testing.T) {
	tapOnly := assertion.Profile{Name: "tap"}
	krb := assertion.Profile{Name: "krb", EnrolWith: []string{"tap", "kerberos"}}
	fresh := assertion.Profile{Name: "fresh", EnrolWith: []string{"tap", "kerberos"}, KerberosMaxAge: time.Hour}
	for _, tc := range []struct {
		name  string
		profs []assertion.Profile
		age   time.Duration
		code  string
		kept  []string
	}{
		{"default is tap only", []assertion.Profile{tapOnly}, 0, CodeKerberosNotAllowed, nil},
		{"one profile allows", []assertion.Profile{tapOnly, krb}, 48 * time.Hour, "", []string{"krb"}},
		{"fresh enough", []assertion.Profile{fresh}, 59 * time.Minute, "", []string{"fresh"}},
		{"stale", []assertion.Profile{tapOnly, fresh}, 61 * time.Minute, CodeKerberosStale, nil},
		{"stale for one, unbounded other", []assertion.Profile{fresh, krb}, 2 * time.Hour, "", []string{"krb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, e := kerberosProfiles(tc.profs, tc.age)
			if tc.code != "" {
				if e == nil || e.Code != tc.code {
					t.Fatalf("got %v, want code %s", e, tc.code)
				}
				return
			}
			if e != nil || len(got) != len(tc.kept) {
				t.Fatalf("got %v %v, want %v", got, e, tc.kept)
			}
			for i, p := range got {
				if p.Name != tc.kept[i] {
					t.Fatalf("kept %s, want %s", p.Name, tc.kept[i])
				}
			}
		})
	}
}

func TestParseAPReqRefusesWhatIsNoAPReq(t *testing.T) {
	for _, tok := range []string{"", "!!!", base64.StdEncoding.EncodeToString([]byte("hello")),
		base64.StdEncoding.EncodeToString([]byte{0x60, 0x03, 0x06, 0x01, 0x00})} {
		if _, _, e := parseAPReq(tok); e == nil || e.Code != CodeKerberosInvalid {
			t.Errorf("token %q: got %v, want %s", tok, e, CodeKerberosInvalid)
		}
	}
}

// The AP-REP decrypts under the session key to the authenticator's time,
// in a SPNEGO accept-completed answer when the request was wrapped.
func TestAPRepTokenEchoesTheAuthenticatorTime(t *testing.T) {
	et, err := crypto.GetEtype(18)
	if err != nil {
		t.Fatal(err)
	}
	key, err := types.GenerateEncryptionKey(et)
	if err != nil {
		t.Fatal(err)
	}
	var req messages.APReq
	req.Ticket.DecryptedEncPart.Key = key
	req.Authenticator.CTime = time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	req.Authenticator.Cusec = 4242
	for _, wrapped := range []bool{false, true} {
		tok, err := apRepToken(&req, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(tok)
		if wrapped {
			var st spnego.SPNEGOToken
			if err := st.Unmarshal(b); err != nil || !st.Resp || st.NegTokenResp.NegState != 0 {
				t.Fatalf("not a SPNEGO accept-completed answer: %v", err)
			}
			b = st.NegTokenResp.ResponseToken
		}
		var kt spnego.KRB5Token
		if err := kt.Unmarshal(b); err != nil || !kt.IsAPRep() {
			t.Fatalf("not a GSS AP-REP token: %v", err)
		}
		plain, err := crypto.DecryptEncPart(kt.APRep.EncPart, key, keyusage.AP_REP_ENCPART)
		if err != nil {
			t.Fatal(err)
		}
		var enc messages.EncAPRepPart
		if err := enc.Unmarshal(plain); err != nil {
			t.Fatal(err)
		}
		if !enc.CTime.Equal(req.Authenticator.CTime) || enc.Cusec != 4242 {
			t.Fatalf("AP-REP says %v.%d", enc.CTime, enc.Cusec)
		}
	}
}
