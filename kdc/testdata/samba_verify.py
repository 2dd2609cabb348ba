#!/usr/bin/python3
"""Independent check of a ticket issued by passkdc, using Samba's own code.

Reads JSON on stdin: {"ticket": hex DER Ticket, "key": hex, "etype": n,
"kdc_key": hex, "kdc_etype": n}. Decrypts the ticket with kcrypto, decodes
it with Samba's pyasn1 RFC 4120 module, decodes the PAC with Samba's
generated NDR parser (the one the Samba KDC uses), verifies every PAC
signature the way Heimdal's krb5_pac_verify does, recomputes the ticket
signature input by re-encoding the EncTicketPart in DER with pyasn1, and
prints the decoded fields as JSON on stdout.
"""
import json
import struct
import sys

from pyasn1.codec.der import decoder, encoder
from samba.dcerpc import krb5pac
from samba.ndr import ndr_pack, ndr_unpack
from samba.tests.krb5 import kcrypto
from samba.tests.krb5 import rfc4120_pyasn1 as krb5_asn1

AD_IF_RELEVANT = 1
AD_WIN2K_PAC = 128
KU_TICKET = 2
KU_PAC = 17


def pac_buffers(raw):
    count, _version = struct.unpack_from('<II', raw, 0)
    out = []
    for i in range(count):
        typ, size, off = struct.unpack_from('<IIQ', raw, 8 + 16 * i)
        out.append((typ, off, size))
    return out


def zeroed(raw, bufs, types):
    data = bytearray(raw)
    for typ, off, size in bufs:
        if typ in types:
            data[off + 4:off + size] = bytes(size - 4)
    return bytes(data)


def verify(key, buf_bytes, data):
    ctype = struct.unpack_from('<i', buf_bytes, 0)[0]
    sig = buf_bytes[4:4 + kcrypto.checksum_len(ctype)]
    try:
        kcrypto.verify_checksum(ctype, key, KU_PAC, data, sig)
        ok = True
    except Exception:  # kcrypto raises InvalidChecksum
        ok = False
    trailer = buf_bytes[4 + len(sig):]
    rodc = struct.unpack('<H', trailer)[0] if len(trailer) == 2 else None
    return {'ok': ok, 'type': ctype, 'rodc': rodc, 'len': len(buf_bytes)}


def sid_str(s):
    return str(s) if s is not None else None


def main():
    req = json.load(sys.stdin)
    key = kcrypto.Key(req['etype'], bytes.fromhex(req['key']))
    kdc_key = kcrypto.Key(req['kdc_etype'], bytes.fromhex(req['kdc_key']))
    ticket, _ = decoder.decode(bytes.fromhex(req['ticket']), asn1Spec=krb5_asn1.Ticket())
    plain = kcrypto.decrypt(key, KU_TICKET, bytes(ticket['enc-part']['cipher']))
    enc, rest = decoder.decode(plain, asn1Spec=krb5_asn1.EncTicketPart())
    res = {
        'trailing': len(rest),
        'reencode_equal': encoder.encode(enc) == plain,
        'realm': str(ticket['realm']),
        'sname': [str(x) for x in ticket['sname']['name-string']],
        'sname_type': int(ticket['sname']['name-type']),
        'kvno': int(ticket['enc-part']['kvno']),
        'etype': int(ticket['enc-part']['etype']),
        'flags': str(enc['flags']),
        'crealm': str(enc['crealm']),
        'cname': [str(x) for x in enc['cname']['name-string']],
        'authtime': str(enc['authtime']),
        'endtime': str(enc['endtime']),
        'renew_till': str(enc['renew-till']) if enc['renew-till'].isValue else None,
        'transited_type': int(enc['transited']['tr-type']),
    }
    ad = enc['authorization-data']
    res['ad_types'] = [int(e['ad-type']) for e in ad]
    inner, _ = decoder.decode(bytes(ad[0]['ad-data']), asn1Spec=krb5_asn1.AD_IF_RELEVANT())
    res['inner_ad_types'] = [int(e['ad-type']) for e in inner]
    raw = bytes(inner[0]['ad-data'])

    # Ticket signature input, as Heimdal's _krb5_kdc_pac_ticket_parse builds it.
    inner[0]['ad-data'] = b'\x00'
    ad[0]['ad-data'] = encoder.encode(inner)
    ticket_sign_data = encoder.encode(enc)

    pac = ndr_unpack(krb5pac.PAC_DATA, raw)
    res['repack_equal'] = ndr_pack(pac) == raw
    bufs = pac_buffers(raw)
    res['buffer_types'] = [b[0] for b in bufs]
    by_type = {typ: raw[off:off + size] for typ, off, size in bufs}
    srv = by_type[krb5pac.PAC_TYPE_SRV_CHECKSUM]
    res['server'] = verify(key, srv, zeroed(raw, bufs, {6, 7}))
    res['kdc'] = verify(kdc_key, by_type[krb5pac.PAC_TYPE_KDC_CHECKSUM], srv[4:])
    if 16 in by_type:
        res['ticket'] = verify(kdc_key, by_type[16], ticket_sign_data)
    if 19 in by_type:
        res['full'] = verify(kdc_key, by_type[19], zeroed(raw, bufs, {6, 7, 19}))

    for b in pac.buffers:
        if b.type == krb5pac.PAC_TYPE_LOGON_INFO:
            base = b.info.info.info3.base
            info3 = b.info.info.info3
            res['logon_info'] = {
                'account_name': base.account_name.string,
                'full_name': base.full_name.string,
                'logon_time': base.logon_time,
                'rid': base.rid,
                'primary_gid': base.primary_gid,
                'groups': [[g.rid, g.attributes] for g in base.groups.rids or []],
                'user_flags': base.user_flags,
                'logon_domain': base.logon_domain.string,
                'domain_sid': sid_str(base.domain_sid),
                'acct_flags': base.acct_flags,
                'sids': [[sid_str(s.sid), s.attributes] for s in (info3.sids or [])],
            }
        elif b.type == krb5pac.PAC_TYPE_LOGON_NAME:
            res['logon_name'] = {'name': b.info.account_name, 'time': b.info.logon_time}
        elif b.type == krb5pac.PAC_TYPE_UPN_DNS_INFO:
            u = b.info
            res['upn_dns'] = {'upn': u.upn_name, 'dns': u.dns_domain_name, 'flags': u.flags}
            if u.flags & krb5pac.PAC_UPN_DNS_FLAG_HAS_SAM_NAME_AND_SID:
                res['upn_dns']['sam'] = u.ex.samaccountname
                res['upn_dns']['sid'] = sid_str(u.ex.objectsid)
        elif b.type == krb5pac.PAC_TYPE_ATTRIBUTES_INFO:
            res['attributes'] = {'flags_length': b.info.flags_length, 'flags': b.info.flags}
        elif b.type == krb5pac.PAC_TYPE_REQUESTER_SID:
            res['requester_sid'] = sid_str(b.info.sid)
    json.dump(res, sys.stdout)


if __name__ == '__main__':
    main()
