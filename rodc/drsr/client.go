package drsr

import (
	"context"
	"errors"
	"fmt"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"net"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/midl/uuid"
	"github.com/oiweiwei/go-msrpc/msrpc/drsr/drsuapi/v4"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	"github.com/oiweiwei/go-msrpc/msrpc/epm/epm/v3"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"
	"github.com/oiweiwei/go-msrpc/ssp/krb5"
)

// oidSupplementalCredentials is the attribute that holds the stored
// Kerberos keys (USER_PROPERTIES), encrypted with the session key.
const oidSupplementalCredentials = "1.2.840.113556.1.4.125"

// Request names the DC, the admin credentials and the account to fetch.
type Request struct {
	// Server is the DC's host name or address (endpoint mapper on TCP 135).
	Server string
	// User is the account to authenticate as (NTLM): "DOMAIN\user" or
	// "user@REALM".
	User string
	// Password is that account's password (NTLM). Empty when CCache or
	// Keytab is set.
	Password string
	// CCache, when set, authenticates with Kerberos from this credential
	// cache (FILE path) instead of NTLM; Keytab likewise from a keytab of
	// User. KRB5Conf is the krb5.conf naming the realm's KDCs (empty:
	// $KRB5_CONFIG, then /etc/krb5.conf). TargetName is the DC's SPN,
	// e.g. host/dc1.corp.example.test (empty: host/<Server>).
	CCache, Keytab, KRB5Conf, TargetName string
	// ObjectGUID is the objectGUID of the account to fetch, as read over
	// LDAP (dashed string form). GetNCChanges names the object by it.
	ObjectGUID string
	// ObjectDN is that account's DN, sent alongside the GUID.
	ObjectDN string

	// integrityOnly signs instead of sealing (packet integrity): DCs refuse
	// replication of secrets then; the tests prove they do.
	integrityOnly bool
}

// Fetch binds to the DC's DRSUAPI interface with NTLM at packet privacy,
// replicates the one object named by ObjectGUID with DRSGetNCChanges
// (EXOP_REPL_OBJ) and returns its current and previous AES keys. The object
// is named by the GUID read over LDAP rather than resolved with
// DRSCrackNames: one lookup path for every DC, and no name-format
// differences between DC implementations. Every error wraps one of the
// package's Err values.
func Fetch(ctx context.Context, r Request) (*StoredKeys, error) {
	ctx, opts, err := securityContext(ctx, r)
	if err != nil {
		return nil, err
	}
	cc, err := dcerpc.Dial(ctx, "ncacn_ip_tcp:"+r.Server,
		epm.EndpointMapper(ctx, net.JoinHostPort(r.Server, "135"), dcerpc.WithInsecure()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, r.Server, err)
	}
	defer cc.Close(ctx)
	cli, err := drsuapi.NewDrsuapiClient(ctx, cc, opts...)
	if err != nil {
		return nil, classifyTransportBind(r.Server, err)
	}
	handle, err := bind(ctx, cli)
	if err != nil {
		return nil, classify(r.Server, err)
	}
	enc, err := replicate(ctx, cli, handle, r.ObjectGUID, r.ObjectDN)
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

// securityContext sets up NTLM, or Kerberos when the request names a
// ccache or keytab, and returns the client options: sealing (packet
// privacy) always, and the DC's SPN for Kerberos.
func securityContext(ctx context.Context, r Request) (context.Context, []dcerpc.Option, error) {
	opts := []dcerpc.Option{dcerpc.WithSeal()}
	if r.integrityOnly {
		opts = []dcerpc.Option{dcerpc.WithSign()}
	}
	if r.CCache == "" && r.Keytab == "" {
		return gssapi.NewSecurityContext(ctx,
			gssapi.WithCredential(credential.NewFromPassword(r.User, r.Password)),
			gssapi.WithMechanismFactory(ssp.SPNEGO),
			gssapi.WithMechanismFactory(ssp.NTLM)), opts, nil
	}
	var cred credential.Credential
	if r.CCache != "" {
		cc, err := credentials.LoadCCache(strings.TrimPrefix(r.CCache, "FILE:"))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: credential cache %s: %w", ErrAuthentication, r.CCache, err)
		}
		user := r.User
		if user == "" {
			user = cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + cc.DefaultPrincipal.Realm
		}
		cred = credential.NewFromCCache(user, cc)
	} else {
		cred = credential.NewFromKeytabFile(r.User, r.Keytab)
	}
	kc := krb5.NewConfig()
	if r.KRB5Conf != "" {
		conf, err := krb5.LoadKRB5Conf(r.KRB5Conf)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: krb5.conf %s: %w", ErrAuthentication, r.KRB5Conf, err)
		}
		kc.KRB5Config = conf
	}
	target := r.TargetName
	if target == "" {
		target = "host/" + r.Server
	}
	ctx = gssapi.NewSecurityContext(ctx,
		gssapi.WithCredential(cred),
		gssapi.WithMechanismFactory(ssp.SPNEGO),
		gssapi.WithMechanismFactory(ssp.KRB5, kc))
	return ctx, append(opts, dcerpc.WithTargetName(target)), nil
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

func replicate(ctx context.Context, cli drsuapi.DrsuapiClient, h *drsuapi.Handle, guid, dn string) ([]byte, error) {
	id, err := uuid.Parse(guid)
	if err != nil {
		return nil, fmt.Errorf("%w: object id %q: %w", ErrBadReply, guid, err)
	}
	resp, err := cli.GetNCChanges(ctx, &drsuapi.GetNCChangesRequest{
		Handle: h, InVersion: 8,
		In: &drsuapi.MessageGetNCChangesRequest{Value: &drsuapi.MessageGetNCChangesRequest_V8{
			V8: &drsuapi.MessageGetNCChangesRequestV8{
				MaxObjectsCount:   1,
				NC:                dsName(id, dn),
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

// dsName is a DSNAME naming the object by GUID and DN, with its structLen
// (fixed part, 56 bytes, plus the NUL-terminated UTF-16 name) filled in.
func dsName(id *uuid.UUID, dn string) *drsuapi.DSName {
	n := uint32(len(utf16.Encode([]rune(dn))))
	return &drsuapi.DSName{Length: 56 + 2*(n+1), GUID: dtyp.GUIDFromUUID(id), NameLength: n, StringName: dn}
}

// Windows error codes the DC answers with, by the error Fetch wraps.
var (
	authCodes   = []uint32{0x721, 0x52e, 0xc000006d} // RPC_S_SEC_PKG_ERROR, ERROR_LOGON_FAILURE, STATUS_LOGON_FAILURE
	deniedCodes = []uint32{0x2105, 0x5}              // ERROR_DS_DRA_ACCESS_DENIED, ERROR_ACCESS_DENIED
	absentCodes = []uint32{0x20f7, 0x208d}           // ERROR_DS_DRA_BAD_DN, ERROR_DS_OBJ_NOT_FOUND
)

// classify maps an RPC failure onto the package's errors.
// classifyTransportBind is classify for the RPC bind (and alter context)
// that sets up the security context: an access-denied answer there refuses
// the credentials (Samba 4.22 answers a wrong NTLM password so), the rights
// are checked later, at DRSBind and DRSGetNCChanges.
func classifyTransportBind(server string, err error) error {
	c := classify(server, err)
	if errors.Is(c, ErrAccessDenied) {
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	}
	return c
}

func classify(server string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, server, err)
	}
	var re *rpcerrors.Error
	if errors.As(err, &re) {
		if code, ok := re.Value.(uint32); ok {
			switch {
			case slices.Contains(authCodes, code):
				return fmt.Errorf("%w: %w", ErrAuthentication, err)
			case slices.Contains(deniedCodes, code):
				return fmt.Errorf("%w: %w", ErrAccessDenied, err)
			case slices.Contains(absentCodes, code):
				return fmt.Errorf("%w: %w", ErrNoSuchAccount, err)
			}
		}
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "logon_failure") || strings.Contains(msg, "logon failure") || strings.Contains(msg, "kdc_error"):
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	case strings.Contains(msg, "access") && strings.Contains(msg, "denied"):
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return fmt.Errorf("%w: %w", ErrBadReply, err)
}
