package client

import (
	"context"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbcred"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// PartialCCache is a credential cache holding the partial TGT as passkdc issued it.
func PartialCCache(si *SignedIn) (*ccache.CCache, error) {
	return krbcred.NewCCache(si.Cred)
}

// ExchangeForTGT presents the partial TGT to a DC (a TGS-REQ for krbtgt/REALM)
// and returns a cache holding the full TGT the DC issued, with the user's
// groups in a PAC the DC built from its directory (as Windows does with a
// cloud Kerberos trust TGT).
func ExchangeForTGT(ctx context.Context, si *SignedIn, kdcs []string) (*ccache.CCache, error) {
	return ExchangeForTGTVia(ctx, si, kdcs, nil)
}

// ExchangeForTGTVia is ExchangeForTGT over transport (nil: TCP to kdcs),
// e.g. a KDC proxy (Client.KDCProxy).
func ExchangeForTGTVia(ctx context.Context, si *SignedIn, kdcs []string, transport tgs.Transport) (*ccache.CCache, error) {
	info := si.Cred.Infos[0]
	var tgt messages.Ticket
	if err := tgt.Unmarshal(si.Cred.Tickets[0]); err != nil {
		return nil, fmt.Errorf("partial TGT is malformed: %w", err)
	}
	realm := info.SRealm
	rep, err := tgs.Exchange(ctx, tgs.Request{
		Client:     info.PName,
		Realm:      realm,
		TGT:        tgt,
		SessionKey: info.Key,
		Service:    types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}},
		KDCs:       kdcs,
		Lifetime:   time.Until(info.EndTime),
		Renew:      renewFor(info),
		Transport:  transport,
	})
	if err != nil {
		return nil, fmt.Errorf("exchange the partial TGT at the DC: %w", err)
	}
	part := rep.Part
	cred := ccache.Credential{
		Client:    ccache.NewPrincipal(info.PRealm, info.PName),
		Server:    ccache.NewPrincipal(part.SRealm, part.SName),
		Key:       part.Key,
		AuthTime:  part.AuthTime,
		StartTime: part.StartTime,
		EndTime:   part.EndTime,
		RenewTill: part.RenewTill,
		Flags:     ccache.FlagsFromBitString(part.Flags),
		Ticket:    rep.TicketDER,
	}
	return &ccache.CCache{Version: ccache.Version4, DefaultPrincipal: cred.Client, Credentials: []ccache.Credential{cred}}, nil
}

func renewFor(info krbcred.Info) time.Duration {
	if info.RenewTill.IsZero() {
		return 0
	}
	return time.Until(info.RenewTill)
}
