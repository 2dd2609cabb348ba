package server

import (
	"fmt"
	"testing"
	"time"
)

// TestIPv6ClientsShareOneBucketPerSlash64: 200 addresses of one /64 spend one
// bucket; another /64 and IPv4 addresses have their own.
func TestIPv6ClientsShareOneBucketPerSlash64(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := newKeyedLimiter(1, 100, 1000)
	allowed := 0
	for i := range 200 {
		if ok, _ := k.allow(addressKey(fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1)), now); ok {
			allowed++
		}
	}
	if allowed != 100 || len(k.keys) != 1 {
		t.Fatalf("200 addresses of one /64: %d allowed, %d buckets; want 100 allowed (the burst), 1 bucket", allowed, len(k.keys))
	}
	for _, other := range []string{"2001:db8:1:3::1", "192.0.2.1", "::ffff:192.0.2.2"} {
		if ok, _ := k.allow(addressKey(other), now); !ok {
			t.Fatalf("%s shares the exhausted /64 bucket", other)
		}
	}
	if addressKey("192.0.2.2") != addressKey("::ffff:192.0.2.2") {
		t.Fatal("an IPv4-mapped address is keyed apart from its IPv4 address")
	}
}

// TestFullLimiterRefusesNewKeysInsteadOfEvicting: with the table full of
// spending keys, a new key is refused and the exhausted bucket stays
// exhausted; a key whose bucket refilled may be forgotten for a new one.
func TestFullLimiterRefusesNewKeysInsteadOfEvicting(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := newKeyedLimiter(60, 2, 2)
	for range 3 {
		k.allow("exhausted", now)
	}
	k.allow("other", now)
	if ok, wait := k.allow("newcomer", now); ok || wait <= 0 {
		t.Fatalf("new key with a full table: allowed=%v wait=%v", ok, wait)
	}
	if ok, _ := k.allow("exhausted", now); ok {
		t.Fatal("the exhausted bucket was reset by a newcomer")
	}
	later := now.Add(10 * time.Second) // every bucket full again
	if ok, _ := k.allow("newcomer", later); !ok {
		t.Fatal("a refilled bucket was not given up for a new key")
	}
}

// TestAddressKeyForms: an IPv4 client is keyed by its dotted quad however
// it is written (mapped or not), an IPv6 one by its /64, anything else as is.
func TestAddressKeyForms(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"192.0.2.2", "192.0.2.2"},
		{"::ffff:192.0.2.2", "192.0.2.2"},
		{"127.0.0.1", "127.0.0.1"},
		{"2001:db8:1:2:3::4", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-ip", "not-an-ip"},
	} {
		if got := addressKey(tc.host); got != tc.want {
			t.Errorf("addressKey(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}
