package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// BenchmarkKDCProxyTGS measures TGS-REQs for cifs/DC against the real Samba
// DC, direct over TCP and through passkdc's /KdcProxy (HTTPS, keep-alive),
// with kpuser's TGT from MIT kinit. It reports requests per second and the
// mean latency of one exchange:
//
//	CI=true go test -run '^$' -bench KDCProxyTGS -benchtime 200x ./integration/
func BenchmarkKDCProxyTGS(b *testing.B) {
	f := server(b)
	ctx := context.Background()
	cc := filepath.Join(b.TempDir(), "cc")
	if err := f.dc.Kinit(ctx, "kpuser@"+f.dc.Realm(), f.password, cc); err != nil {
		b.Fatal(err)
	}
	c, err := ccache.Load(cc)
	if err != nil {
		b.Fatal(err)
	}
	var cred ccache.Credential
	for _, e := range c.Entries() {
		if !e.IsConfig() {
			cred = e
		}
	}
	var tgt messages.Ticket
	if err := tgt.Unmarshal(cred.Ticket); err != nil {
		b.Fatal(err)
	}
	pc, err := client.New(f.URL, f.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	proxy, err := pc.KDCProxy(f.URL+"/KdcProxy", f.dc.Realm())
	if err != nil {
		b.Fatal(err)
	}
	req := tgs.Request{Client: cred.Client.PrincipalName(), Realm: f.dc.Realm(), TGT: tgt, SessionKey: cred.Key,
		Service: types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"cifs", f.dc.FQDN()}},
		KDCs:    []string{f.dc.KDCAddr()}, Lifetime: time.Hour}
	for _, bc := range []struct {
		name      string
		transport tgs.Transport
	}{{"direct", nil}, {"proxied", proxy}} {
		b.Run(bc.name, func(b *testing.B) {
			r := req
			r.Transport = bc.transport
			start := time.Now()
			for b.Loop() {
				if _, err := tgs.Exchange(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
			b.ReportMetric(float64(el.Microseconds())/float64(b.N)/1000, "ms/req")
		})
	}
}
