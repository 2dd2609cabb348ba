package client

// Kerberos fixtures of the client tests: a signed-in partial TGT, a DC that
// refuses it or trades it for a full TGT, and a KDC proxy in front of them.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/kdctest"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/kkdcp"
	"github.com/passkdc/passkdc/kdc/krbcred"
)

// signedIn is a sign-in result holding a TGT for alice@EXAMPLE.TEST.
func signedIn(t *testing.T) *SignedIn {
	t.Helper()
	tkt, key, cname, sname, end := kdctest.TGT(t)
	der, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &SignedIn{Principal: "alice@EXAMPLE.TEST", Cred: &krbcred.Cred{Tickets: [][]byte{der},
		Infos: []krbcred.Info{{Key: key, PRealm: kdctest.Realm, PName: cname, SRealm: kdctest.Realm, SName: sname, EndTime: end}}}}
}

// fakeProxy is a KDC proxy answering every message with a KRB-ERROR; it
// counts the requests.
func fakeProxy(t *testing.T) (string, *atomic.Int32) {
	return proxyAnswering(t, func(m kkdcp.Message) []byte { return kdctest.Revoked(m.Kerberos()) })
}

// fakeDC answers a TGS-REQ for krbtgt with a full TGT, as a writable DC does,
// and remembers what it issued. Its bends make the reply wrong on purpose.
type fakeDC struct {
	t          *testing.T
	sessionKey types.EncryptionKey // the partial TGT's session key
	badNonce   bool
	wrongKey   bool

	mu     sync.Mutex
	ticket []byte              // the issued ticket's DER
	key    types.EncryptionKey // the issued session key
	end    time.Time
	flags  uint32 // ccache bit order
}

// reply is the DC's unframed answer to a TGS-REQ.
func (d *fakeDC) reply(req []byte) []byte {
	var r messages.TGSReq
	if err := r.Unmarshal(req); err != nil {
		d.t.Errorf("DC got no TGS-REQ: %v", err)
		return nil
	}
	kt := keytab.New()
	_ = kt.AddEntry("krbtgt/EXAMPLE.TEST", "EXAMPLE.TEST", "dc-password", time.Now(), 2, 18)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	f := types.NewKrbFlags()
	types.SetFlag(&f, flags.Forwardable)
	types.SetFlag(&f, flags.Initial)
	now := time.Now().UTC().Truncate(time.Second)
	end := now.Add(10 * time.Hour)
	tkt, key, err := messages.NewTicket(cname, "EXAMPLE.TEST", r.ReqBody.SName, r.ReqBody.Realm, f, kt, 18, 2, now, now, end, end)
	if err != nil {
		d.t.Error(err)
		return nil
	}
	nonce := r.ReqBody.Nonce
	if d.badNonce {
		nonce++
	}
	part := messages.EncKDCRepPart{Key: key, LastReqs: []messages.LastReq{{LRType: 0, LRValue: now}}, Nonce: nonce,
		Flags: f, AuthTime: now, StartTime: now, EndTime: end, RenewTill: end, SRealm: r.ReqBody.Realm, SName: r.ReqBody.SName}
	plain, err := part.Marshal()
	if err != nil {
		d.t.Error(err)
		return nil
	}
	seal := d.sessionKey
	if d.wrongKey {
		seal = key
	}
	ed, err := crypto.GetEncryptedData(plain, seal, keyusage.TGS_REP_ENCPART_SESSION_KEY, 0)
	if err != nil {
		d.t.Error(err)
		return nil
	}
	rep := messages.TGSRep{KDCRepFields: messages.KDCRepFields{PVNO: 5, MsgType: msgtype.KRB_TGS_REP,
		CRealm: "EXAMPLE.TEST", CName: cname, Ticket: tkt, EncPart: ed}}
	b, err := rep.Marshal()
	if err != nil {
		d.t.Error(err)
		return nil
	}
	der, _ := tkt.Marshal()
	d.mu.Lock()
	d.ticket, d.key, d.end, d.flags = der, key, end, ccache.FlagsFromBitString(f)
	d.mu.Unlock()
	return b
}

// serveTCP runs the DC on a loopback port (kdctest frames nothing: the
// reply carries its own length).
func (d *fakeDC) serveTCP() string {
	addr, _ := kdctest.Serve(d.t, func(req []byte) []byte { return kkdcp.Frame(d.reply(req)) })
	return addr
}

// serveProxy runs a KDC proxy in front of the DC.
func (d *fakeDC) serveProxy() string {
	url, _ := proxyAnswering(d.t, func(m kkdcp.Message) []byte { return kkdcp.Frame(d.reply(m.Kerberos())) })
	return url
}

// checkFullTGT checks that cc holds exactly the ticket the DC issued, for
// alice, under the DC's session key, times and flags.
func (d *fakeDC) checkFullTGT(t *testing.T, cc *ccache.CCache) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if cc.DefaultPrincipal.String() != "alice@EXAMPLE.TEST" || len(cc.Credentials) != 1 {
		t.Fatalf("cache for %s with %d credentials", cc.DefaultPrincipal, len(cc.Credentials))
	}
	c := cc.Credentials[0]
	if c.Client.String() != "alice@EXAMPLE.TEST" || c.Server.String() != "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST" {
		t.Errorf("credential %s -> %s", c.Client, c.Server)
	}
	if !reflect.DeepEqual(c.Ticket, d.ticket) || !reflect.DeepEqual(c.Key, d.key) {
		t.Error("the cache does not hold the ticket and session key the DC issued")
	}
	if !c.EndTime.Equal(d.end) || !c.RenewTill.Equal(d.end) {
		t.Errorf("end %v renew %v, want %v", c.EndTime, c.RenewTill, d.end)
	}
	if c.Flags != d.flags || d.flags == 0 {
		t.Errorf("flags %#x: the DC's flags were lost", c.Flags)
	}
}

// proxyAnswering is a KDC proxy on loopback answering each decoded
// KDC-PROXY-MESSAGE with reply's framed Kerberos answer; it counts the
// requests.
func proxyAnswering(t *testing.T, reply func(kkdcp.Message) []byte) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		m, err := kkdcp.Decode(b, 1<<16)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, _ := kkdcp.Message{KerbMessage: reply(m)}.Marshal()
		w.Header().Set("Content-Type", "application/kerberos")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/KdcProxy", &n
}
