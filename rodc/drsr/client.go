package drsr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/midl/uuid"
	"github.com/oiweiwei/go-msrpc/msrpc/drsr/drsuapi/v4"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	"github.com/oiweiwei/go-msrpc/msrpc/epm/epm/v3"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"
)

// oidSupplementalCredentials is the attribute that holds the stored
// Kerberos keys (USER_PROPERTIES), encrypted with the session key.
const oidSupplementalCredentials = "1.2.840.113556.1.4.125"

// Request names the DC, the admin credentials and the account to fetch.
type Request struct {
	// Server is the DC's host name or address (endpoint mapper on TCP 135).
	Server string
	// Domain is the NetBIOS domain name, e.g. "SAMDOM".
	Domain string
	// User is the account to authenticate as (NTLM), "user" or "DOMAIN\user".
	User string
	// Password is that account's password.
	Password string
	// Account is the sAMAccountName to fetch, e.g. "krbtgt_12345".
	Account string
}

// Fetch binds to the DC's DRSUAPI interface with NTLM at packet privacy,
// resolves Account with DRSCrackNames, replicates that one object with
// DRSGetNCChanges (EXOP_REPL_OBJ) and returns its current and previous AES
// keys. Every error wraps one of the package's Err values.
func Fetch(ctx context.Context, r Request) (*StoredKeys, error) {
	ctx = gssapi.NewSecurityContext(ctx,
		gssapi.WithCredential(credential.NewFromPassword(r.User, r.Password)),
		gssapi.WithMechanismFactory(ssp.SPNEGO),
		gssapi.WithMechanismFactory(ssp.NTLM))
	cc, err := dcerpc.Dial(ctx, "ncacn_ip_tcp:"+r.Server,
		epm.EndpointMapper(ctx, net.JoinHostPort(r.Server, "135"), dcerpc.WithInsecure()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, r.Server, err)
	}
	defer cc.Close(ctx)
	cli, err := drsuapi.NewDrsuapiClient(ctx, cc, dcerpc.WithSeal())
	if err != nil {
		return nil, classify(r.Server, err)
	}
	handle, err := bind(ctx, cli)
	if err != nil {
		return nil, classify(r.Server, err)
	}
	guid, err := crack(ctx, cli, handle, r.Domain+`\`+r.Account)
	if err != nil {
		return nil, err
	}
	enc, err := replicate(ctx, cli, handle, guid)
	if err != nil {
		return nil, err
	}
	key, ok := gssapi.GetAttribute(cli.Conn().Context(), gssapi.AttributeSessionKey)
	session, _ := key.([]byte)
	if !ok || len(session) == 0 {
		return nil, fmt.Errorf("%w: no session key on the sealed connection", ErrBadReply)
	}
	plain, err := DecryptSecret(session, enc)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return ParseSupplementalCredentials(plain)
}

func bind(ctx context.Context, cli drsuapi.DrsuapiClient) (*drsuapi.Handle, error) {
	ext, err := ndr.Marshal(&drsuapi.ExtensionsInt{
		Flags:   drsuapi.ExtGetNCChangesRequestV8 | drsuapi.ExtStrongEncryption | drsuapi.ExtGetNCChangesReplyV6,
		ExtCaps: 0xFFFFFFFF,
	}, ndr.Opaque)
	if err != nil {
		return nil, err
	}
	resp, err := cli.Bind(ctx, &drsuapi.BindRequest{Client: &drsuapi.Extensions{Data: ext}})
	if err != nil {
		return nil, err
	}
	return resp.DRS, nil
}

func crack(ctx context.Context, cli drsuapi.DrsuapiClient, h *drsuapi.Handle, name string) (string, error) {
	resp, err := cli.CrackNames(ctx, &drsuapi.CrackNamesRequest{
		Handle: h, InVersion: 1,
		In: &drsuapi.MessageCrackNamesRequest{Value: &drsuapi.MessageCrackNamesRequest_V1{
			V1: &drsuapi.MessageCrackNamesRequestV1{
				FormatOffered: uint32(drsuapi.DSNameFormatNT4AccountNameSANSDomainEx),
				Names:         []string{name},
				FormatDesired: uint32(drsuapi.DSNameFormatUniqueIDName),
			},
		}},
	})
	if err != nil {
		return "", classify("", err)
	}
	v1, ok := resp.Out.GetValue().(*drsuapi.MessageCrackNamesReplyV1)
	if !ok || v1.Result == nil || len(v1.Result.Items) != 1 {
		return "", fmt.Errorf("%w: name lookup answered no single result for %s", ErrBadReply, name)
	}
	if it := v1.Result.Items[0]; it.Status != 0 {
		return "", fmt.Errorf("%w: %s (name lookup status %d)", ErrNoSuchAccount, name, it.Status)
	} else {
		return it.Name, nil
	}
}

func replicate(ctx context.Context, cli drsuapi.DrsuapiClient, h *drsuapi.Handle, guid string) ([]byte, error) {
	id, err := uuid.Parse(guid)
	if err != nil {
		return nil, fmt.Errorf("%w: object id %q: %w", ErrBadReply, guid, err)
	}
	resp, err := cli.GetNCChanges(ctx, &drsuapi.GetNCChangesRequest{
		Handle: h, InVersion: 8,
		In: &drsuapi.MessageGetNCChangesRequest{Value: &drsuapi.MessageGetNCChangesRequest_V8{
			V8: &drsuapi.MessageGetNCChangesRequestV8{
				MaxObjectsCount:   1,
				NC:                &drsuapi.DSName{GUID: dtyp.GUIDFromUUID(id)},
				Flags:             drsuapi.InitSync | drsuapi.WritableReplica,
				ExtendedOperation: drsuapi.ExtendedOperationReplicationObject,
			},
		}},
	})
	if err != nil {
		return nil, classify("", err)
	}
	v6, ok := resp.Out.GetValue().(*drsuapi.MessageGetNCChangesReplyV6)
	if !ok {
		return nil, fmt.Errorf("%w: the reply is not a version 6 reply", ErrBadReply)
	}
	if v6.ExtendedReturn != 1 { // EXOP_ERR_SUCCESS
		return nil, fmt.Errorf("%w: extended operation result %d", ErrAccessDenied, v6.ExtendedReturn)
	}
	if v6.Objects == nil || v6.Objects.EntityInfo == nil || v6.Objects.EntityInfo.AttributeBlock == nil {
		return nil, fmt.Errorf("%w: the reply carries no object", ErrBadReply)
	}
	if v6.ExtendedReturn != 1 { // EXOP_ERR_SUCCESS
		return nil, fmt.Errorf("%w: extended operation result %d", ErrAccessDenied, v6.ExtendedReturn)
	}
	prefixes := v6.PrefixTableSource.Build()
	for _, a := range v6.Objects.EntityInfo.AttributeBlock.Attribute {
		oid, err := prefixes.AttributeToOID(a.AttributeType)
		if err != nil || oid.String() != oidSupplementalCredentials {
			continue
		}
		if a.AttributeValue == nil || len(a.AttributeValue.Values) != 1 {
			return nil, fmt.Errorf("%w: supplementalCredentials has no single value", ErrBadReply)
		}
		return a.AttributeValue.Values[0].Value, nil
	}
	return nil, fmt.Errorf("%w: the reply has no supplementalCredentials (the account may not replicate secrets)", ErrAccessDenied)
}

// classify maps an RPC failure onto the package's errors.
func classify(server string, err error) error {
	msg := strings.ToLower(err.Error())
	var ne net.Error
	switch {
	case errors.As(err, &ne):
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, server, err)
	case strings.Contains(msg, "logon_failure") || strings.Contains(msg, "logon failure") || strings.Contains(msg, "authentication"):
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	case strings.Contains(msg, "access") && strings.Contains(msg, "denied"):
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return fmt.Errorf("%w: %w", ErrBadReply, err)
}
