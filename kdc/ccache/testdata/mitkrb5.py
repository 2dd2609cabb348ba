#!/usr/bin/python3
"""Test helper: drive MIT krb5's own library (libkrb5.so.3) through ctypes.

Used by the Go tests of kdc/ccache and kdc/krbcred to produce credential
caches and KRB-CRED messages written by MIT code, and to make MIT decode
ours, without a KDC. Exit status 77 means libkrb5 is not available.

  mitkrb5.py writecc SPEC.json        write the FILE ccache described by SPEC
  mitkrb5.py rdcred KRBCRED CCNAME [ENCTYPE KEYHEX]
                                      krb5_rd_cred, store the creds in CCNAME,
                                      print {"timestamp","usec","seq","count"}
  mitkrb5.py mkcred CCNAME OUT [ENCTYPE KEYHEX]
                                      krb5_mk_ncred over the non-config creds
                                      of CCNAME, write the KRB-CRED to OUT
"""
import ctypes as C
import json
import sys

try:
    LIB = C.CDLL("libkrb5.so.3")
except OSError as e:
    print("libkrb5.so.3 not available: %s" % e, file=sys.stderr)
    sys.exit(77)

KEEP = []  # buffers that must outlive the library calls


class Data(C.Structure):
    _fields_ = [("magic", C.c_int32), ("length", C.c_uint), ("data", C.c_void_p)]


class Keyblock(C.Structure):
    _fields_ = [("magic", C.c_int32), ("enctype", C.c_int32),
                ("length", C.c_uint), ("contents", C.c_void_p)]


class Times(C.Structure):
    _fields_ = [("authtime", C.c_int32), ("starttime", C.c_int32),
                ("endtime", C.c_int32), ("renew_till", C.c_int32)]


class Address(C.Structure):
    _fields_ = [("magic", C.c_int32), ("addrtype", C.c_int32),
                ("length", C.c_uint), ("contents", C.c_void_p)]


class Authdata(C.Structure):
    _fields_ = [("magic", C.c_int32), ("ad_type", C.c_int32),
                ("length", C.c_uint), ("contents", C.c_void_p)]


class Principal(C.Structure):
    _fields_ = [("magic", C.c_int32), ("realm", Data), ("data", C.POINTER(Data)),
                ("length", C.c_int32), ("type", C.c_int32)]


class Creds(C.Structure):
    _fields_ = [("magic", C.c_int32), ("client", C.POINTER(Principal)),
                ("server", C.POINTER(Principal)), ("keyblock", Keyblock),
                ("times", Times), ("is_skey", C.c_uint), ("ticket_flags", C.c_int32),
                ("addresses", C.POINTER(C.POINTER(Address))), ("ticket", Data),
                ("second_ticket", Data), ("authdata", C.POINTER(C.POINTER(Authdata)))]


class ReplayData(C.Structure):
    _fields_ = [("timestamp", C.c_int32), ("usec", C.c_int32), ("seq", C.c_uint32)]


LIB.krb5_get_error_message.restype = C.c_char_p
LIB.krb5_get_error_message.argtypes = [C.c_void_p, C.c_int32]
LIB.krb5_is_config_principal.argtypes = [C.c_void_p, C.POINTER(Principal)]


def check(ctx, ret, what):
    if ret != 0:
        msg = LIB.krb5_get_error_message(ctx, ret).decode(errors="replace")
        print("%s: %s (%d)" % (what, msg, ret), file=sys.stderr)
        sys.exit(1)


def buf(b):
    """A C buffer holding bytes b, as (void pointer, length)."""
    if not b:
        return None, 0
    s = C.create_string_buffer(bytes(b), len(b))
    KEEP.append(s)
    return C.cast(s, C.c_void_p), len(b)


def data(b):
    p, n = buf(b)
    return Data(0, n, p)


def principal(spec):
    comps = (Data * max(1, len(spec["components"])))()
    for i, c in enumerate(spec["components"]):
        comps[i] = data(c.encode())
    KEEP.append(comps)
    p = Principal(0, data(spec["realm"].encode()), comps, len(spec["components"]), spec["type"])
    KEEP.append(p)
    return C.pointer(p)


def null_terminated(cls, items):
    if not items:
        return None
    arr = (C.POINTER(cls) * (len(items) + 1))()
    for i, (typ, hexval) in enumerate(items):
        p, n = buf(bytes.fromhex(hexval))
        obj = cls(0, typ, n, p)
        KEEP.append(obj)
        arr[i] = C.pointer(obj)
    KEEP.append(arr)
    return C.cast(arr, C.POINTER(C.POINTER(cls)))


def keyblock(enctype, keyhex):
    p, n = buf(bytes.fromhex(keyhex))
    kb = Keyblock(0, enctype, n, p)
    KEEP.append(kb)
    return kb


def creds_from_spec(s):
    cr = Creds()
    cr.client = principal(s["client"])
    cr.server = principal(s["server"])
    cr.keyblock = keyblock(s["enctype"], s["key"])
    cr.times = Times(s["authtime"], s["starttime"], s["endtime"], s["renew_till"])
    cr.is_skey = 1 if s["is_skey"] else 0
    cr.ticket_flags = C.c_int32(s["flags"] & 0xFFFFFFFF).value
    cr.addresses = null_terminated(Address, s.get("addresses"))
    cr.authdata = null_terminated(Authdata, s.get("authdata"))
    cr.ticket = data(bytes.fromhex(s["ticket"]))
    cr.second_ticket = data(bytes.fromhex(s.get("second_ticket", "")))
    KEEP.append(cr)
    return cr


def context():
    ctx = C.c_void_p()
    check(None, LIB.krb5_init_context(C.byref(ctx)), "krb5_init_context")
    return ctx


def open_cc(ctx, name):
    cc = C.c_void_p()
    check(ctx, LIB.krb5_cc_resolve(ctx, name.encode(), C.byref(cc)), "krb5_cc_resolve")
    return cc


def writecc(path):
    with open(path) as f:
        spec = json.load(f)
    ctx = context()
    cc = open_cc(ctx, spec["ccache"])
    check(ctx, LIB.krb5_cc_initialize(ctx, cc, principal(spec["default"])), "krb5_cc_initialize")
    for s in spec["creds"]:
        check(ctx, LIB.krb5_cc_store_cred(ctx, cc, C.byref(creds_from_spec(s))), "krb5_cc_store_cred")
    for conf in spec.get("config", []):
        p = principal(conf["principal"]) if conf.get("principal") else None
        d = data(conf["value"].encode())
        check(ctx, LIB.krb5_cc_set_config(ctx, cc, p, conf["key"].encode(), C.byref(d)), "krb5_cc_set_config")
    check(ctx, LIB.krb5_cc_close(ctx, cc), "krb5_cc_close")


def auth_context(ctx, flags, setkey, args):
    ac = C.c_void_p()
    check(ctx, LIB.krb5_auth_con_init(ctx, C.byref(ac)), "krb5_auth_con_init")
    check(ctx, LIB.krb5_auth_con_setflags(ctx, ac, flags), "krb5_auth_con_setflags")
    if len(args) == 2:
        kb = keyblock(int(args[0]), args[1])
        check(ctx, setkey(ctx, ac, C.byref(kb)), "set key")
    return ac


def rdcred(path, ccname, *key):
    ctx = context()
    ret_time, ret_sequence = 0x2, 0x8
    ac = auth_context(ctx, ret_time | ret_sequence, LIB.krb5_auth_con_setrecvsubkey, key)
    with open(path, "rb") as f:
        d = data(f.read())
    out = C.POINTER(C.POINTER(Creds))()
    rd = ReplayData()
    check(ctx, LIB.krb5_rd_cred(ctx, ac, C.byref(d), C.byref(out), C.byref(rd)), "krb5_rd_cred")
    n = 0
    while out[n]:
        n += 1
    cc = open_cc(ctx, ccname)
    check(ctx, LIB.krb5_cc_initialize(ctx, cc, out[0].contents.client), "krb5_cc_initialize")
    for i in range(n):
        check(ctx, LIB.krb5_cc_store_cred(ctx, cc, out[i]), "krb5_cc_store_cred")
    check(ctx, LIB.krb5_cc_close(ctx, cc), "krb5_cc_close")
    print(json.dumps({"timestamp": rd.timestamp, "usec": rd.usec, "seq": rd.seq, "count": n}))


def mkcred(ccname, outpath, *key):
    ctx = context()
    cc = open_cc(ctx, ccname)
    cursor = C.c_void_p()
    check(ctx, LIB.krb5_cc_start_seq_get(ctx, cc, C.byref(cursor)), "krb5_cc_start_seq_get")
    creds = []
    while True:
        cr = Creds()
        if LIB.krb5_cc_next_cred(ctx, cc, C.byref(cursor), C.byref(cr)) != 0:
            break
        if not LIB.krb5_is_config_principal(ctx, cr.server):
            creds.append(cr)
    LIB.krb5_cc_end_seq_get(ctx, cc, C.byref(cursor))
    arr = (C.POINTER(Creds) * (len(creds) + 1))()
    for i, cr in enumerate(creds):
        arr[i] = C.pointer(cr)
    ac = auth_context(ctx, 0, LIB.krb5_auth_con_setsendsubkey, key)
    out = C.POINTER(Data)()
    check(ctx, LIB.krb5_mk_ncred(ctx, ac, arr, C.byref(out), None), "krb5_mk_ncred")
    with open(outpath, "wb") as f:
        f.write(C.string_at(out.contents.data, out.contents.length))


def main():
    cmds = {"writecc": writecc, "rdcred": rdcred, "mkcred": mkcred}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
