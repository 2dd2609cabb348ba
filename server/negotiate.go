package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/store"
)

// KerberosConfig enables Kerberos (HTTP Negotiate) enrolment: a user with
// a ticket for SPN and no passkey yet may open a registration without a pass.
type KerberosConfig struct {
	// Keytab holds the AES keys of SPN (`passkdc rodc http-spn`);
	// Server.SetKerberosKeytab replaces it after a rotation.
	Keytab *keytab.Keytab
	// SPN is HTTP/<passkdc host>; tickets for any other service are refused.
	SPN string
	// MaxClockSkew bounds the authenticator's time; zero: 5 minutes.
	MaxClockSkew time.Duration
}

// kerberosGrant is the grant of a registration opened by Kerberos: spent as
// "the user still has no active passkey" (a pass's grant is its 32-byte hash).
var kerberosGrant = []byte("kerberos")

// negotiateUser is who a verified Negotiate token names.
type negotiateUser struct {
	principal store.Principal
	authTime  time.Time
	endTime   time.Time
	// reply is the mutual-authentication answer (base64 for
	// WWW-Authenticate: Negotiate): curl and browsers insist on it.
	reply string
}

// negotiateChallenge adds the Negotiate challenge to a 401 when Kerberos
// enrolment is configured (curl and browsers send a token only when asked).
func (s *Server) negotiateChallenge(w http.ResponseWriter) {
	if s.cfg.Kerberos != nil {
		w.Header().Add("WWW-Authenticate", "Negotiate")
	}
}

// verifyNegotiate checks an HTTP Negotiate token: an AP-REQ (bare or in
// SPNEGO) for exactly the configured SPN, AES ticket and session key,
// verified under the service key, with a PAC whose user SID is the mirrored
// principal's.
func (s *Server) verifyNegotiate(ctx context.Context, token string, ev *store.AuditRecord) (negotiateUser, *apiError) {
	kc := s.cfg.Kerberos
	if kc == nil {
		return negotiateUser{}, newError(CodeKerberosUnavailable, "Kerberos enrolment is not configured here (kerberos.keytab); use a temporary access pass")
	}
	req, wrapped, e := parseAPReq(token)
	if e != nil {
		return negotiateUser{}, e
	}
	spn := req.Ticket.SName.PrincipalNameString()
	if spn != kc.SPN || !strings.EqualFold(req.Ticket.Realm, s.cfg.Realm) {
		return negotiateUser{}, newError(CodeKerberosWrongSPN, "the ticket is for %s@%s, not %s@%s", spn, req.Ticket.Realm, kc.SPN, s.cfg.Realm)
	}
	if !aesEType(req.Ticket.EncPart.EType) {
		return negotiateUser{}, newError(CodeKerberosWeakEType, "the ticket is not AES-encrypted (etype %d); only AES tickets are accepted", req.Ticket.EncPart.EType)
	}
	skew := kc.MaxClockSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	ok, creds, err := service.VerifyAPREQ(req, service.NewSettings(s.krbKeys.Load(), service.MaxClockSkew(skew),
		service.KeytabPrincipal(kc.SPN), service.DecodePAC(true)))
	if err != nil || !ok {
		s.cfg.Log.WithError(err).WithField("result", "kerberos_invalid").Debug("negotiate token refused")
		return negotiateUser{}, newError(CodeKerberosInvalid, "the Kerberos ticket does not verify (expired, replayed, or not under passkdc's HTTP key)")
	}
	if !aesEType(req.Ticket.DecryptedEncPart.Key.KeyType) {
		return negotiateUser{}, newError(CodeKerberosWeakEType, "the ticket's session key is not AES (etype %d)", req.Ticket.DecryptedEncPart.Key.KeyType)
	}
	name := creds.CName().PrincipalNameString()
	ev.Principal = name
	if _, has := creds.Attributes()[credentials.AttributeKeyADCredentials]; !has {
		return negotiateUser{}, newError(CodeKerberosNoPAC, "the ticket carries no PAC; it cannot be tied to a directory account")
	}
	p, e := s.kerberosPrincipal(ctx, name, creds.Realm(), creds.GetADCredentials())
	if e != nil {
		return negotiateUser{}, e
	}
	ev.Principal = p.Name
	reply, err := apRepToken(req, wrapped)
	if err != nil {
		return negotiateUser{}, newError(assertion.CodeInternal, "cannot answer the Kerberos authentication")
	}
	return negotiateUser{principal: p, authTime: req.Ticket.DecryptedEncPart.AuthTime,
		endTime: req.Ticket.DecryptedEncPart.EndTime, reply: reply}, nil
}

// kerberosPrincipal finds the mirrored principal of the ticket's client and
// checks the PAC's user SID against it; with a Refresher it is re-read live.
func (s *Server) kerberosPrincipal(ctx context.Context, name, realm string, ad credentials.ADCredentials) (store.Principal, *apiError) {
	if !strings.EqualFold(realm, s.cfg.Realm) || strings.Contains(name, "/") {
		return store.Principal{}, newError(CodeKerberosUnknownUser, "%s@%s is not a user of realm %s", name, realm, s.cfg.Realm)
	}
	p, err := s.cfg.Store.GetPrincipalByName(ctx, s.cfg.Realm, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, newError(CodeKerberosUnknownUser, "%s is not (yet) synced from the directory", name)
	}
	if err != nil {
		return p, storeError(err, "principal of this ticket")
	}
	if s.cfg.Refresher != nil {
		if p, _, err = s.cfg.Refresher.Refresh(ctx, p); err != nil {
			return p, ceremonyError(err)
		}
	}
	sid := ad.LogonDomainID + "-" + strconv.Itoa(ad.UserID)
	if p.SID == "" || !strings.EqualFold(sid, p.SID) {
		return p, newError(CodeKerberosSIDMismatch, "the ticket's user SID %s is not the SID synced for %s", sid, p.Name)
	}
	if pr := p.Problem(s.cfg.Now()); pr != "" {
		return p, newError(string(pr), "%s", pr.Describe(p))
	}
	return p, nil
}

// parseAPReq decodes a Negotiate token: SPNEGO NegTokenInit with a Kerberos
// mech token (wrapped), or a bare Kerberos GSS token.
func parseAPReq(token string) (req *messages.APReq, wrapped bool, e *apiError) {
	bad := newError(CodeKerberosInvalid, "the Negotiate token is not a Kerberos AP-REQ")
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || len(b) == 0 {
		return nil, false, bad
	}
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(b); err == nil {
		if !st.Init {
			return nil, false, bad
		}
		b, wrapped = st.NegTokenInit.MechTokenBytes, true
	}
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(b); err != nil || !kt.IsAPReq() {
		return nil, false, bad
	}
	return &kt.APReq, wrapped, nil
}

// apRepToken is the acceptor's answer to a verified AP-REQ (RFC 4120
// 5.5.2, RFC 4121 4.1): an AP-REP echoing the authenticator's time under
// the ticket's session key, as a GSS token, in a SPNEGO NegTokenResp
// (accept-completed) when the request came wrapped. gokrb5 v8 marshals
// neither AP-REP nor its GSS token.
func apRepToken(req *messages.APReq, wrapped bool) (string, error) {
	enc, err := asn1.Marshal(struct {
		CTime time.Time `asn1:"generalized,explicit,tag:0"`
		Cusec int       `asn1:"explicit,tag:1"`
	}{req.Authenticator.CTime, req.Authenticator.Cusec})
	if err != nil {
		return "", err
	}
	ed, err := crypto.GetEncryptedData(asn1tools.AddASNAppTag(enc, asnAppTag.EncAPRepPart),
		req.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return "", err
	}
	rep, err := asn1.Marshal(struct {
		PVNO    int                 `asn1:"explicit,tag:0"`
		MsgType int                 `asn1:"explicit,tag:1"`
		EncPart types.EncryptedData `asn1:"explicit,tag:2"`
	}{5, msgtype.KRB_AP_REP, ed})
	if err != nil {
		return "", err
	}
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return "", err
	}
	tok := append(append(oid, 0x02, 0x00), asn1tools.AddASNAppTag(rep, asnAppTag.APREP)...)
	tok = asn1tools.AddASNAppTag(tok, 0)
	if wrapped {
		resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted),
			SupportedMech: gssapi.OIDKRB5.OID(), ResponseToken: tok}
		if tok, err = resp.Marshal(); err != nil {
			return "", err
		}
	}
	return base64.StdEncoding.EncodeToString(tok), nil
}

func aesEType(et int32) bool {
	return et == etypeID.AES128_CTS_HMAC_SHA1_96 || et == etypeID.AES256_CTS_HMAC_SHA1_96
}

// kerberosProfiles keeps the profiles that let this ticket enrol: listing
// kerberos in enrol_with, with authtime within kerberos_max_age.
func kerberosProfiles(profs []assertion.Profile, age time.Duration) ([]assertion.Profile, *apiError) {
	var out []assertion.Profile
	listed := false
	for _, p := range profs {
		allowed, fresh := p.AllowsKerberos(age)
		listed = listed || allowed
		if allowed && fresh {
			out = append(out, p)
		}
	}
	switch {
	case !listed:
		return nil, newError(CodeKerberosNotAllowed, "your passkey profile does not allow enrolment with Kerberos (enrol_with); ask the helpdesk for a temporary access pass")
	case len(out) == 0:
		return nil, newError(CodeKerberosStale, "your Kerberos ticket is from a logon %s ago, longer than your profile allows (kerberos_max_age): log on again (kinit) and retry", age.Round(time.Second))
	}
	return out, nil
}

// noActivePasskey refuses Kerberos enrolment for a user who has an active
// passkey: Kerberos alone only bootstraps the first one.
func noActivePasskey(ctx context.Context, list func(context.Context, string) ([]store.Credential, error), anchor string) *apiError {
	creds, err := list(ctx, anchor)
	if err != nil {
		return storeError(err, "passkeys")
	}
	for _, c := range creds {
		if c.RevokedAt.IsZero() {
			return newError(CodeKerberosHasPasskey, "you already have a passkey: sign in with it (or use a temporary access pass) to add another")
		}
	}
	return nil
}

// registerBeginKerberos is register/begin opened by a Negotiate ticket.
func (s *Server) registerBeginKerberos(w http.ResponseWriter, r *http.Request, token string) {
	ctx := r.Context()
	ev := s.event(r, "register.begin")
	ev.Detail = "kerberos"
	var req registerBeginRequest
	if r.ContentLength != 0 {
		if e := decodeBody(w, r, &req); e != nil {
			s.fail(ctx, w, ev, e)
			return
		}
	}
	u, e := s.verifyNegotiate(ctx, token, &ev)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	p := u.principal
	profs, e := s.registrationProfiles(ctx, w, r, p, req.Principal)
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	kprofs, e := kerberosProfiles(profs, s.cfg.Now().Sub(u.authTime))
	if e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	if e := noActivePasskey(ctx, s.cfg.Store.ListCredentials, p.Anchor); e != nil {
		s.fail(ctx, w, ev, e)
		return
	}
	sess, opts, err := s.cfg.RP.PrepareRegistration(ctx, p, kerberosGrant, kprofs...)
	if err != nil {
		s.fail(ctx, w, ev, ceremonyError(err))
		return
	}
	w.Header().Set("WWW-Authenticate", "Negotiate "+u.reply)
	s.okWith(ctx, w, ev, "registration started by Kerberos", beginResponse{Session: sess.ID, PublicKey: opts.Response}, createSession(sess))
}

// spendGrant is the grant's part of a registration's transaction: one use
// of the pass, or (Kerberos) the check that no passkey appeared meanwhile.
func (s *Server) spendGrant(ctx context.Context, tx store.Tx, grant []byte, anchor string) error {
	switch {
	case grant == nil:
		return nil
	case bytes.Equal(grant, kerberosGrant):
		// Locked, so that two replicas' parallel Kerberos enrolments of one
		// user cannot both find no passkey.
		if _, err := tx.LockPrincipal(ctx, anchor); err != nil {
			return storeError(err, "principal")
		}
		if e := noActivePasskey(ctx, tx.ListCredentials, anchor); e != nil {
			return e
		}
		return nil
	}
	if _, err := tx.UseTAP(ctx, grant, s.cfg.Now()); err != nil {
		return tapError(err)
	}
	return nil
}

// kerberosSignIn opens a Security info page session with a Negotiate
// ticket, for a user whose profile allows Kerberos enrolment and who has no
// passkey yet. Without a token it answers the challenge (401 with
// WWW-Authenticate: Negotiate, not audited: the browser answers it at once).
func (w *web) kerberosSignIn(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := w.s
	ev := s.event(r, "page.signin")
	ev.Detail = "kerberos"
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate ")
	if !ok && s.cfg.Kerberos != nil {
		s.negotiateChallenge(rw)
		writeError(rw, newError(CodeKerberosInvalid, "sign in with Kerberos: this request carried no Negotiate token"))
		return
	}
	if e := emptyBody(rw, r); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	u, e := s.verifyNegotiate(ctx, token, &ev)
	if e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	p := u.principal
	profs, err := s.cfg.Profiles(ctx, p)
	if err != nil {
		s.fail(ctx, rw, ev, ceremonyError(err))
		return
	}
	if _, e := kerberosProfiles(profs, s.cfg.Now().Sub(u.authTime)); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	if e := noActivePasskey(ctx, s.cfg.Store.ListCredentials, p.Anchor); e != nil {
		s.fail(ctx, rw, ev, e)
		return
	}
	c := w.newClaims(p, "", "", u.endTime)
	c.Kerberos, c.AuthTime = true, u.authTime.Unix()
	ps := &pageSession{claims: c, principal: p, csrf: w.csrfToken(c)}
	rw.Header().Set("WWW-Authenticate", "Negotiate "+u.reply)
	w.okWithCookie(ctx, rw, ev, "page session opened with Kerberos", c, w.view(ctx, ps), nil)
}
