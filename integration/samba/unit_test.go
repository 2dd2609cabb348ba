package samba

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SID vectors: binary forms produced by Samba's own NDR encoder
// (ndr_pack(security.dom_sid(s)) with python3-samba 4.17).
var sidVectors = []struct{ str, hex string }{
	{"S-1-5-32-544", "01020000000000052000000020020000"},
	{"S-1-5-21-2127521184-1604012920-1887927527-1001", "010500000000000515000000a065cf7e784b9b5fe77c8770e9030000"},
	{"S-1-5", "0100000000000005"},
	{"S-1-16-12288", "010100000000001000300000"},
	{"S-1-5-21-4294967295-1-2-3-4-5-6-7-8-9-10-11-12-13", "010f00000000000515000000ffffffff0100000002000000030000000400000005000000060000000700000008000000090000000a0000000b0000000c0000000d000000"},
	{"S-1-0x123456789abc-1", "0101123456789abc01000000"}, // Samba prints large authorities so
	{"S-1-65535-1", "010100000000ffff01000000"},
}

func TestDecodeEncodeSID(t *testing.T) {
	for _, v := range sidVectors {
		b, _ := hex.DecodeString(v.hex)
		got, err := DecodeSID(b)
		if err != nil || got != v.str {
			t.Errorf("DecodeSID(%s) = %q, %v; want %q", v.hex, got, err, v.str)
		}
		enc, err := EncodeSID(v.str)
		if err != nil || !bytes.Equal(enc, b) {
			t.Errorf("EncodeSID(%q) = %x, %v; want %s", v.str, enc, err, v.hex)
		}
	}
}

func TestDecodeSIDMalformed(t *testing.T) {
	for name, h := range map[string]string{
		"empty":          "",
		"short header":   "01020000000000",
		"revision 2":     "02010000000000050b000000",
		"truncated subs": "010200000000000520000000200200",
		"trailing byte":  "0101000000000005200000000a",
		"16 subs":        "0110000000000005" + strings.Repeat("01000000", 16),
	} {
		b, _ := hex.DecodeString(h)
		if s, err := DecodeSID(b); !errors.Is(err, ErrMalformedSID) {
			t.Errorf("%s: DecodeSID = %q, %v; want ErrMalformedSID", name, s, err)
		}
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := DecodeSID([]byte{2, 0, 0, 0, 0, 0, 0, 5})
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "revision" || err.Error() != "samba: malformed SID: revision 2, want 1" {
		t.Errorf("err = %v", err)
	}
	_, err = DecodeGUID(nil)
	if err == nil || err.Error() != "samba: malformed GUID: length 0, want 16" {
		t.Errorf("err = %v", err)
	}
}

func TestEncodeSIDMalformed(t *testing.T) {
	for _, s := range []string{"", "S", "S-1", "X-1-5", "S-2-5-1", "S-1-x-1", "S-1-5-", "S-1-5-4294967296",
		"S-1-281474976710656", "S-1-5-" + strings.Repeat("1-", 15) + "1", "S-1-5--1"} {
		if b, err := EncodeSID(s); !errors.Is(err, ErrMalformedSID) {
			t.Errorf("EncodeSID(%q) = %x, %v; want ErrMalformedSID", s, b, err)
		}
	}
}

func TestDecodeGUID(t *testing.T) {
	// Samba: ndr_pack(misc.GUID("6b29fc40-ca47-1067-b31d-00dd010662da")).
	b, _ := hex.DecodeString("40fc296b47ca6710b31d00dd010662da")
	got, err := DecodeGUID(b)
	if err != nil || got != "6b29fc40-ca47-1067-b31d-00dd010662da" {
		t.Errorf("DecodeGUID = %q, %v", got, err)
	}
	for _, n := range []int{0, 15, 17} {
		if _, err := DecodeGUID(make([]byte, n)); !errors.Is(err, ErrMalformedGUID) {
			t.Errorf("DecodeGUID(%d bytes) err = %v", n, err)
		}
	}
}

func TestUnicodePwd(t *testing.T) {
	if got, want := unicodePwd("aé"), "\"\x00a\x00\xe9\x00\"\x00"; got != want {
		t.Errorf("unicodePwd = %q, want %q", got, want)
	}
	if got := unicodePwd("😀"); len(got) != 8 { // quotes + surrogate pair
		t.Errorf("unicodePwd(emoji) has %d bytes", len(got))
	}
}

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0A00007F:0058 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 616 1 000000008950df4d 100 0 0 10 0
   1: 0A00007F:0058 0B00007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 617 1 000000007ec2e14e 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	rows, err := parseProcNet([]byte(procNetTCP))
	if err != nil || len(rows) != 2 {
		t.Fatalf("parseProcNet = %v, %v", rows, err)
	}
	want := procNetEntry{local: netip.MustParseAddrPort("127.0.0.10:88"), state: tcpListen, inode: 616}
	if rows[0] != want {
		t.Errorf("row 0 = %+v, want %+v", rows[0], want)
	}
	v6 := "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode\n" +
		"   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 99 1\n"
	rows, err = parseProcNet([]byte(v6))
	if err != nil || len(rows) != 1 || rows[0].local != netip.MustParseAddrPort("[::1]:53") {
		t.Errorf("tcp6 = %+v, %v", rows, err)
	}
	for name, bad := range map[string]string{
		"no header":   "   0: 0A00007F:0058 00000000:0000 0A",
		"short line":  "local_address\n   0: 0A00007F:0058 00000000:0000 0A\n",
		"bad address": "local_address\n 0: 0A0007F:0058 00000000:0000 0A 0:0 0:0 0 0 0 5 1\n",
		"bad port":    "local_address\n 0: 0A00007F:10000 00000000:0000 0A 0:0 0:0 0 0 0 5 1\n",
		"bad inode":   "local_address\n 0: 0A00007F:0058 00000000:0000 0A 0:0 0:0 0 0 0 x 1\n",
	} {
		if _, err := parseProcNet([]byte(bad)); !errors.Is(err, ErrMalformedProcNet) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	line := "1298 (a) b) (c) S 1293 1290 3347 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 935763 3133440 363"
	p, err := parseStat([]byte(line))
	want := procInfo{pid: 1298, ppid: 1293, pgid: 1290, state: 'S', start: 935763}
	if err != nil || p != want {
		t.Errorf("parseStat = %+v, %v; want %+v", p, err, want)
	}
	for _, bad := range []string{"", "12 (x", "x (a) S 1 1 1", "12 (a) S 1 2", "12 (a) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 5",
		"0 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 5", "12 (a) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 5"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, ErrMalformedStat) {
			t.Errorf("parseStat(%q) err = %v", bad, err)
		}
	}
}

func TestSetGlobals(t *testing.T) {
	conf := "# Global parameters\n[global]\n\tInterfaces = lo\n\t; interfaces = commented\n\tworkgroup = CORP\n\n[netlogon]\n\tpath = /x\n"
	got, err := setGlobals(conf, []setting{{"interfaces", "127.0.0.10"}, {"tls enabled", "yes"}})
	want := "# Global parameters\n[global]\n\tinterfaces = 127.0.0.10\n\t; interfaces = commented\n\tworkgroup = CORP\n\ttls enabled = yes\n\n[netlogon]\n\tpath = /x\n"
	if err != nil || got != want {
		t.Errorf("setGlobals:\n%s\nwant:\n%s (err %v)", got, want, err)
	}
	if _, err := setGlobals("[homes]\n", nil); !errors.Is(err, ErrMalformedSMBConf) {
		t.Errorf("no global: err = %v", err)
	}
	if _, err := setGlobals("[global]\n", []setting{{"a", "b\n[x]"}}); !errors.Is(err, ErrMalformedSMBConf) {
		t.Errorf("newline in value: err = %v", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.Realm != DefaultRealm || o.IP != DefaultIP || o.Host != "dc1" || o.Logger == nil {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	for name, bad := range map[string]Options{
		"public IP":     {IP: "8.8.8.8"},
		"IPv6":          {IP: "::1"},
		"private IP":    {IP: "10.0.0.1"},
		"realm":         {Realm: "CORP EXAMPLE"},
		"host with dot": {Host: "dc1.corp"},
		"long host":     {Host: "averyveryverylonghost"},
		"relative dir":  {Dir: "rel/dir"},
		"password":      {AdminPassword: "a\nb"},
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestKillTree checks the stop machinery without Samba: a process group
// whose child runs in its own session (as smbd and winbindd do) is found by
// tree and marker, and terminated.
func TestKillTree(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	marker := markerEnv + "=" + t.TempDir()
	cmd := exec.Command("sh", "-c", "setsid sleep 60 & sleep 60 & wait")
	cmd.Env = append(os.Environ(), marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var procs []procInfo
	for deadline := time.Now().Add(5 * time.Second); len(procs) < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		procs = treeAndMarked(cmd.Process.Pid, marker, allProcs())
	}
	if len(procs) < 3 {
		t.Fatalf("found %d processes, want sh and two sleeps", len(procs))
	}
	signalProcs(procs, syscall.SIGTERM)
	if alive := waitGone(procs, 5*time.Second); len(alive) > 0 {
		t.Errorf("%d processes survived SIGTERM", len(alive))
	}
	<-done
	for _, p := range procs {
		if ProcessRunning(p.pid) && running(p) {
			t.Errorf("pid %d still running", p.pid)
		}
	}
}

func TestCacheKey(t *testing.T) {
	o, _ := Options{}.withDefaults()
	k := cacheKey(o, "4.17")
	o2 := o
	o2.IP, o2.Dir = "127.0.0.99", "/elsewhere" // not part of the provision
	if cacheKey(o2, "4.17") != k {
		t.Error("cache key depends on IP or Dir")
	}
	o2.AdminPassword = "other"
	if cacheKey(o2, "4.17") == k || cacheKey(o, "4.18") == k {
		t.Error("cache key ignores the password or the samba version")
	}
}
