package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc"
	"github.com/passkdc/passkdc/kdc/pac"
)

// tamperPAC returns a copy of iss whose PAC was changed in place by edit
// (same length; it must change something; nil for none, the control that
// re-signing alone does not spoil the ticket) and whose signatures in resign were then computed again, in
// signing order (full, server, KDC), with key (a partial TGT's one key signs
// all of them). Every re-made signature is checked with passkdc's own
// verifier (pac.Parsed.Verify*), so only the defect edit made remains.
func tamperPAC(iss *kdc.Issued, key kdc.TicketKey, edit func(p *pac.Parsed) error, resign ...uint32) (*kdc.Issued, error) {
	plain, err := crypto.DecryptEncPart(iss.Ticket.EncPart, key.Key, keyusage.KDC_REP_TICKET)
	if err != nil {
		return nil, fmt.Errorf("decrypt ticket: %w", err)
	}
	raw, err := ticketPAC(plain)
	if err != nil {
		return nil, err
	}
	at := bytes.Index(plain, raw)
	if at < 0 || bytes.Index(plain[at+1:], raw) >= 0 {
		return nil, fmt.Errorf("PAC not found once in the EncTicketPart")
	}
	p, err := pac.Parse(plain[at : at+len(raw)]) // p.Raw aliases plain: edits land in the ticket
	if err != nil {
		return nil, err
	}
	if edit != nil {
		before := append([]byte(nil), p.Raw...)
		if err := edit(p); err != nil {
			return nil, err
		}
		if bytes.Equal(before, p.Raw) {
			return nil, fmt.Errorf("the edit left the PAC unchanged")
		}
	}
	for _, t := range resign {
		if err := resignPAC(p, t, key.Key); err != nil {
			return nil, err
		}
	}
	ed, err := crypto.GetEncryptedData(plain, key.Key, keyusage.KDC_REP_TICKET, key.WireKVNO())
	if err != nil {
		return nil, err
	}
	old := iss.Ticket.EncPart.Cipher
	if len(ed.Cipher) != len(old) || bytes.Count(iss.TicketDER, old) != 1 {
		return nil, fmt.Errorf("re-encrypted ticket does not fit in place")
	}
	out := *iss
	out.TicketDER = bytes.Replace(iss.TicketDER, old, ed.Cipher, 1)
	if err := out.Ticket.Unmarshal(out.TicketDER); err != nil {
		return nil, err
	}
	return &out, nil
}

// ticketPAC finds the AD-WIN2K-PAC inside the AD-IF-RELEVANT of an
// EncTicketPart.
func ticketPAC(plain []byte) ([]byte, error) {
	var part messages.EncTicketPart
	if err := part.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("EncTicketPart: %w", err)
	}
	for _, ad := range part.AuthorizationData {
		var inner types.AuthorizationData
		if err := inner.Unmarshal(ad.ADData); err != nil {
			continue
		}
		for _, e := range inner {
			if e.ADType == 128 { // AD-WIN2K-PAC
				return e.ADData, nil
			}
		}
	}
	return nil, fmt.Errorf("no PAC in the ticket")
}

// resignPAC recomputes signature t of p in place and verifies it.
func resignPAC(p *pac.Parsed, t uint32, key types.EncryptionKey) error {
	buf, ok := p.Buffer(t)
	if !ok {
		return fmt.Errorf("no signature buffer %d", t)
	}
	sig, err := pac.ParseSignature(buf.Data)
	if err != nil {
		return err
	}
	var data []byte
	switch t {
	case pac.TypeKDCChecksum:
		srv, _ := p.Buffer(pac.TypeServerChecksum)
		data = srv.Data[4:]
	case pac.TypeServerChecksum:
		data = zeroSigs(p, pac.TypeServerChecksum, pac.TypeKDCChecksum)
	case pac.TypeFullChecksum:
		data = zeroSigs(p, pac.TypeServerChecksum, pac.TypeKDCChecksum, pac.TypeFullChecksum)
	default:
		return fmt.Errorf("cannot re-sign buffer %d", t)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return err
	}
	sum, err := et.GetChecksumHash(key.KeyValue, data, keyusage.KERB_NON_KERB_CKSUM_SALT)
	if err != nil {
		return err
	}
	copy(buf.Data[4:], sum[:len(sig.Signature)])
	verify := map[uint32]func(types.EncryptionKey) error{pac.TypeKDCChecksum: p.VerifyKDC,
		pac.TypeServerChecksum: p.VerifyServer, pac.TypeFullChecksum: p.VerifyFull}[t]
	if err := verify(key); err != nil {
		return fmt.Errorf("re-signed buffer %d does not verify: %w", t, err)
	}
	return nil
}

// zeroSigs is the PAC with everything after the type field of the given
// signature buffers zeroed (the input of the server and full checksums).
func zeroSigs(p *pac.Parsed, types ...uint32) []byte {
	c := append([]byte(nil), p.Raw...)
	for _, t := range types {
		if b, ok := p.Buffer(t); ok {
			clear(c[b.Offset+4 : b.Offset+len(b.Data)])
		}
	}
	return c
}

// flipSig spoils the first checksum byte of signature buffer t.
func flipSig(t uint32) func(p *pac.Parsed) error {
	return func(p *pac.Parsed) error {
		b, ok := p.Buffer(t)
		if !ok || len(b.Data) < 5 {
			return fmt.Errorf("no signature buffer %d", t)
		}
		b.Data[4] ^= 0xff
		return nil
	}
}

// setRequesterRID makes PAC_REQUESTER_SID name another account of the
// domain (its last sub-authority).
func setRequesterRID(rid uint32) func(p *pac.Parsed) error {
	return func(p *pac.Parsed) error {
		b, ok := p.Buffer(pac.TypeRequesterSID)
		if !ok || len(b.Data) < 12 {
			return fmt.Errorf("no REQUESTER_SID buffer")
		}
		binary.LittleEndian.PutUint32(b.Data[len(b.Data)-4:], rid)
		return nil
	}
}

// clientInfoName changes the last UTF-16 unit of PAC_CLIENT_INFO's name;
// clientInfoTime moves its ClientId (a FILETIME) by d100ns.
func clientInfoName(p *pac.Parsed) error {
	b, ok := p.Buffer(pac.TypeClientInfo)
	if !ok || len(b.Data) < 12 {
		return fmt.Errorf("no CLIENT_INFO buffer")
	}
	b.Data[len(b.Data)-2]++
	return nil
}

func clientInfoTime(d100ns uint64) func(p *pac.Parsed) error {
	return func(p *pac.Parsed) error {
		b, ok := p.Buffer(pac.TypeClientInfo)
		if !ok || len(b.Data) < 10 {
			return fmt.Errorf("no CLIENT_INFO buffer")
		}
		binary.LittleEndian.PutUint64(b.Data, binary.LittleEndian.Uint64(b.Data)+d100ns)
		return nil
	}
}
