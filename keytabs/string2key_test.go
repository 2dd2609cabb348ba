package keytabs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// TestStringToKeyRFC3962 uses the vectors of RFC 3962 appendix B.
func TestStringToKeyRFC3962(t *testing.T) {
	gclef := "\U0001D11E"
	tests := []struct {
		name, password, salt string
		iterations           uint32
		aes128, aes256       string
	}{
		{"iter 1", "password", "ATHENA.MIT.EDUraeburn", 1,
			"42263c6e89f4fc28b8df68ee09799f15",
			"fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"},
		{"iter 2", "password", "ATHENA.MIT.EDUraeburn", 2,
			"c651bf29e2300ac27fa469d693bdda13",
			"a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"},
		{"iter 1200", "password", "ATHENA.MIT.EDUraeburn", 1200,
			"4c01cd46d632d01e6dbe230a01ed642a",
			"55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"},
		{"iter 5 binary salt", "password", string(mustHex(t, "1234567878563412")), 5,
			"e9b23d52273747dd5c35cb55be619d8e",
			"97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"},
		{"pass phrase equals block size", strings.Repeat("X", 64), "pass phrase equals block size", 1200,
			"59d1bb789a828b1aa54ef9c2883f69ed",
			"89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34"},
		{"pass phrase exceeds block size", strings.Repeat("X", 65), "pass phrase exceeds block size", 1200,
			"cb8005dc5f90179a7f02104c0018751d",
			"d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b"},
		{"g-clef", gclef, "EXAMPLE.COMpianist", 50,
			"f149c1f2e154a73452d43e7fe62a56e5",
			"4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for etype, want := range map[int32]string{17: tc.aes128, 18: tc.aes256} {
				k, err := StringToKeyIterations(etype, tc.password, tc.salt, tc.iterations)
				if err != nil {
					t.Fatal(err)
				}
				if k.KeyType != etype || hex.EncodeToString(k.KeyValue) != want {
					t.Errorf("etype %d: %d %x, want %s", etype, k.KeyType, k.KeyValue, want)
				}
			}
		})
	}
}

// TestStringToKeyRFC8009 uses the string-to-key vectors of RFC 8009
// appendix A: iteration count 32768 (the default), salt = 16 random bytes
// followed by "ATHENA.MIT.EDUraeburn" (the enctype name prefix is added by
// the derivation itself).
func TestStringToKeyRFC8009(t *testing.T) {
	salt := string(mustHex(t, "10df9dd783e5bc8acea1730e74355f61")) + "ATHENA.MIT.EDUraeburn"
	tests := []struct {
		etype int32
		want  string
	}{
		{etypeID.AES128_CTS_HMAC_SHA256_128, "089bca48b105ea6ea77ca5d2f39dc5e7"},
		{etypeID.AES256_CTS_HMAC_SHA384_192, "45bd806dbf6a833a9cffc1c94589a222367a79bc21c413718906e9f578a78467"},
	}
	for _, tc := range tests {
		k, err := StringToKey(tc.etype, "password", salt)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(k.KeyValue) != tc.want {
			t.Errorf("etype %d: %x, want %s", tc.etype, k.KeyValue, tc.want)
		}
		k2, err := StringToKeyIterations(tc.etype, "password", salt, 32768)
		if err != nil || !bytes.Equal(k2.KeyValue, k.KeyValue) {
			t.Errorf("etype %d: explicit 32768 iterations differ: %v", tc.etype, err)
		}
	}
}

// TestChecksumRFC8009 checks the RFC 8009 appendix A checksum vectors (key
// usage 2) through gokrb5, with the keys' Kc derivation, since PAC and ticket
// checksums rely on it.
func TestChecksumRFC8009(t *testing.T) {
	msg := mustHex(t, "000102030405060708090a0b0c0d0e0f1011121314")
	tests := []struct {
		cksumType    int32
		base, kc, ck string
	}{
		{chksumtype.HMAC_SHA256_128_AES128, "3705d96080c17728a0e800eab6e0d23c",
			"b31a018a48f54776f403e9a396325dc3", "d78367186643d67b411cba9139fc1dee"},
		{chksumtype.HMAC_SHA384_192_AES256, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52",
			"ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d", "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a"},
	}
	for _, tc := range tests {
		et, err := crypto.GetChksumEtype(tc.cksumType)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := et.DeriveKey(mustHex(t, tc.base), common.GetUsageKc(2))
		if err != nil || hex.EncodeToString(kc) != tc.kc {
			t.Errorf("checksum type %d: Kc %x (%v), want %s", tc.cksumType, kc, err, tc.kc)
		}
		ck, err := et.GetChecksumHash(mustHex(t, tc.base), msg, 2)
		if err != nil || hex.EncodeToString(ck) != tc.ck {
			t.Errorf("checksum type %d: %x (%v), want %s", tc.cksumType, ck, err, tc.ck)
		}
		if !et.VerifyChecksum(mustHex(t, tc.base), msg, mustHex(t, tc.ck), 2) {
			t.Errorf("checksum type %d: VerifyChecksum rejects the vector", tc.cksumType)
		}
	}
}

func TestStringToKeyRC4(t *testing.T) {
	tests := []struct{ password, want string }{
		{"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
		{"password", "8846f7eaee8fb117ad06bdd830b7586c"},
	}
	for _, tc := range tests {
		k, err := StringToKey(etypeID.RC4_HMAC, tc.password, "ignored salt")
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(k.KeyValue) != tc.want {
			t.Errorf("RC4 %q: %x, want %s", tc.password, k.KeyValue, tc.want)
		}
	}
}

func TestStringToKeyErrors(t *testing.T) {
	tests := []struct {
		name       string
		etype      int32
		iterations uint32
		want       error
	}{
		{"des3", etypeID.DES3_CBC_SHA1_KD, 4096, ErrUnsupportedEtype},
		{"des", etypeID.DES_CBC_MD5, 4096, ErrUnsupportedEtype},
		{"unknown", 99, 4096, ErrUnsupportedEtype},
		{"zero iterations", 18, 0, nil},
		{"huge iterations", 19, 1<<24 + 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StringToKeyIterations(tc.etype, "pw", "salt", tc.iterations)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := StringToKey(16, "pw", "salt"); !errors.Is(err, ErrUnsupportedEtype) {
		t.Errorf("StringToKey(des3) = %v", err)
	}
}

func TestSalts(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"user", ADUserSalt("corp.example.test", "Alice"), "CORP.EXAMPLE.TESTAlice"},
		{"user krbtgt_N", ADUserSalt("CORP.EXAMPLE.TEST", "krbtgt_40000"), "CORP.EXAMPLE.TESTkrbtgt_40000"},
		{"computer", ADComputerSalt("Corp.Example.Test", "WS01$"), "CORP.EXAMPLE.TESThostws01.corp.example.test"},
		{"computer without $", ADComputerSalt("corp.example.test", "RODC1"), "CORP.EXAMPLE.TESThostrodc1.corp.example.test"},
		{"mit default", DefaultSalt(mustPrincipal(t, "host/x.example.test@EXAMPLE.TEST")), "EXAMPLE.TESThostx.example.test"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	upn := []struct{ realm, upn, want string }{
		{"corp.example.test", "Alice.Smith@corp.example.test", "CORP.EXAMPLE.TESTAlice.Smith"},
		{"corp.example.test", "alice@other.example", "CORP.EXAMPLE.TESTalice"},
		{"corp.example.test", "alice", "CORP.EXAMPLE.TESTalice"},
		{"corp.example.test", "host/foo.corp.example.test@corp.example.test", "CORP.EXAMPLE.TESThostfoo.corp.example.test"},
	}
	for _, tc := range upn {
		got, err := ADUserSaltFromUPN(tc.realm, tc.upn)
		if err != nil || got != tc.want {
			t.Errorf("ADUserSaltFromUPN(%q, %q) = %q, %v; want %q", tc.realm, tc.upn, got, err, tc.want)
		}
	}
	if _, err := ADUserSaltFromUPN("r", "a@b@c"); err == nil {
		t.Error("ADUserSaltFromUPN accepted a@b@c")
	}
}
