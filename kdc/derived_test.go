package kdc

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/passkdc/passkdc/kdc/internal/aescts"
	"github.com/passkdc/passkdc/kdc/pac"
	"github.com/passkdc/passkdc/kdc/sid"
)

// TestDerivedKeysTicketsDecodeAndVerify: a ticket issued with the derived
// keys kept per key version decrypts with gokrb5 under the long-term key and
// carries PAC signatures that verify with it (the checks assume aes256, the
// RODC key type; the tests below cover aes128's encryption and checksums).
func TestDerivedKeysTicketsDecodeAndVerify(t *testing.T) {
	cases := []struct {
		name  string
		etype int32
		kvno  uint32
	}{
		{"aes256 RODC", 18, 40000<<16 | 3},
		{"aes256 low RODC number", 18, 1<<16 | 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, err := testKey(tc.etype, 9, tc.kvno).WithDerivedKeys()
			if err != nil {
				t.Fatal(err)
			}
			if key.usable() == nil {
				t.Fatal("derived keys not used")
			}
			iss, err := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			checkEnvelope(t, iss, key)
			d := decodeTicket(t, iss, key)
			checkEncPart(t, iss, d)
			checkPAC(t, iss, d, key, key, true)
		})
	}
}

// TestDerivedKeysFollowTheKey: derived keys that do not belong to the key
// (the key value replaced after deriving) are not used.
func TestDerivedKeysFollowTheKey(t *testing.T) {
	key, err := testKey(18, 9, 40000<<16|1).WithDerivedKeys()
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(18, 10, 40000<<16|1)
	key.Key = other.Key
	if key.usable() != nil || key.checksumKey() != nil {
		t.Fatal("derived keys of another key value used")
	}
	iss, err := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	d := decodeTicket(t, iss, other)
	checkPAC(t, iss, d, other, other, true)
}

// TestCTSEncryptionMatchesGokrb5: the ticket encryption with cached keys
// decrypts with gokrb5's RFC 3962 code for every length around the block
// boundaries (ciphertext stealing swaps and truncates the last blocks).
func TestCTSEncryptionMatchesGokrb5(t *testing.T) {
	for _, etype := range []int32{17, 18} {
		key, err := testKey(etype, 5, 1).WithDerivedKeys()
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n <= 70; n++ {
			plain := bytes.Repeat([]byte{byte(n)}, n)
			ed, err := key.usable().encryptTicket(append(make([]byte, aescts.Prefix), plain...), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(ed.Cipher) != 16+n+12 {
				t.Fatalf("etype %d, %d bytes: cipher of %d bytes", etype, n, len(ed.Cipher))
			}
			got, err := crypto.DecryptEncPart(ed, key.Key, keyusage.KDC_REP_TICKET)
			if err != nil {
				t.Fatalf("etype %d, %d bytes: gokrb5 cannot decrypt: %v", etype, n, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("etype %d, %d bytes: decrypted %x", etype, n, got)
			}
		}
	}
}

// TestPACChecksumKeyGivesTheSameSignatures: signing with the derived
// checksum keys gives the same bytes as deriving them per signature.
func TestPACChecksumKeyGivesTheSameSignatures(t *testing.T) {
	for _, etype := range []int32{17, 18} {
		srv, kdcKey := testKey(etype, 3, 1<<16|1), testKey(etype, 4, 1<<16|1)
		user, _ := sid.Parse("S-1-5-21-1-2-3-1105")
		dom, _ := sid.Parse("S-1-5-21-1-2-3")
		mk := func() *pac.PAC {
			return &pac.PAC{
				LogonInfo:    &pac.LogonInfo{EffectiveName: "alice", UserID: 1105, PrimaryGroupID: 513, LogonDomainID: &dom},
				ClientInfo:   pac.ClientInfo{Name: "alice", ClientID: pac.FileTimeFromTime(testNow)},
				RequesterSID: &user,
			}
		}
		keys := pac.SigningKeys{Server: srv.Key, KDC: kdcKey.Key, RODCNumber: 1}
		opts := pac.SignOptions{TicketSignData: []byte("ticket"), FullChecksum: true}
		want, err := mk().Sign(keys, opts)
		if err != nil {
			t.Fatal(err)
		}
		if keys.ServerKc, err = pac.ChecksumKey(srv.Key); err != nil {
			t.Fatal(err)
		}
		if keys.KDCKc, err = pac.ChecksumKey(kdcKey.Key); err != nil {
			t.Fatal(err)
		}
		got, err := mk().Sign(keys, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("etype %d: signatures differ with derived checksum keys", etype)
		}
	}
}

// TestIssuedTicketIsItsDER: the Ticket an issuance returns (built, not
// decoded) is what decoding its TicketDER gives.
func TestIssuedTicketIsItsDER(t *testing.T) {
	key, err := testKey(18, 9, 40000<<16|1).WithDerivedKeys()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := IssuePartialTGT(context.Background(), testPrincipal(t), key, DefaultTicketPolicy(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var decoded messages.Ticket
	if err := decoded.Unmarshal(iss.TicketDER); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(decoded, iss.Ticket) {
		t.Fatalf("built ticket %+v\ndecoded %+v", iss.Ticket, decoded)
	}
}
