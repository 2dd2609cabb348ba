package kdctest

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Realm is the realm of the tickets this package makes.
const Realm = "EXAMPLE.TEST"

// TGT is a ticket-granting ticket for alice@EXAMPLE.TEST (client name,
// krbtgt/EXAMPLE.TEST service name) valid for an hour from now, with its
// session key: what a client presents to a KDC in a TGS-REQ.
func TGT(t testing.TB) (tgt messages.Ticket, key types.EncryptionKey, client, service types.PrincipalName, end time.Time) {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("krbtgt/"+Realm, Realm, "pw", time.Now(), 1, 18); err != nil {
		t.Fatal(err)
	}
	client = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	service = types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+Realm)
	now := time.Now().UTC()
	end = now.Add(time.Hour)
	tgt, key, err := messages.NewTicket(client, Realm, service, Realm, types.NewKrbFlags(), kt, 18, 1, now, now, end, end)
	if err != nil {
		t.Fatal(err)
	}
	return tgt, key, client, service, end
}

// Revoked is a KDC's KRB-ERROR (KDC_ERR_TGT_REVOKED) answer to the TGS-REQ
// req, framed for TCP: a reply function for Serve.
func Revoked(req []byte) []byte {
	var r messages.TGSReq
	_ = r.Unmarshal(req)
	e := messages.NewKRBError(r.ReqBody.SName, r.ReqBody.Realm, errorcode.KDC_ERR_TGT_REVOKED, "revoked")
	b, _ := e.Marshal()
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}
