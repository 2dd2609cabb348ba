package server

import "strings"

// SoftkeyAAGUID is the AAGUID of passkinit's software passkey
// (internal/softkey.AAGUIDString; a test keeps the two equal).
const SoftkeyAAGUID = "5e1f7a8c-2b4d-4c6e-9a1b-70a55c0de001"

// ChromiumVirtualAAGUID is the AAGUID of the CTAP2 virtual authenticator of
// Chromium's DevTools WebAuthn domain (fixed by Chromium, whatever the
// attestation conveyance asked for). Tests block it in a passkey profile.
const ChromiumVirtualAAGUID = "01020304-0506-0708-0102-030405060708"

// AuthenticatorModel returns the name of the authenticator model with that
// AAGUID (canonical UUID text, any case), or "" when it is not in passkdc's
// built-in table. The table is small and best-effort, for labels on the web
// page, not a trust decision: the AAGUID of a passkey registered without
// attestation is only a claim. The all-zero AAGUID (no model given) is "".
func AuthenticatorModel(aaguid string) string {
	switch strings.ToLower(aaguid) {
	case SoftkeyAAGUID:
		return "passkdc software passkey"
	case ChromiumVirtualAAGUID:
		return "Chromium virtual authenticator (testing)"
	case "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4":
		return "Google Password Manager"
	case "adce0002-35bc-c60a-648b-0b25f1f05503":
		return "Chrome on Mac"
	case "b5397666-4885-aa6b-cebf-e52262a439a2":
		return "Chromium browser"
	case "fbfc3007-154e-4ecc-8c0b-6e020557d7bd":
		return "iCloud Keychain"
	case "dd4ec289-e01d-41c9-bb89-70fa845d4bf2":
		return "iCloud Keychain (managed)"
	case "08987058-cadc-4b81-b6e1-30de50dcbe96", "9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "6028b017-b1d4-4c02-b4b3-afcdafc96bb2":
		return "Windows Hello"
	case "bada5566-a7aa-401f-bd96-45619a55120d":
		return "1Password"
	case "d548826e-79b4-db40-a3d8-11116f7e8349":
		return "Bitwarden"
	case "531126d6-e717-415c-9320-3d9aa6981239":
		return "Dashlane"
	case "b84e4048-15dc-4dd0-8640-f4f60813c8af":
		return "NordPass"
	case "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6":
		return "Keeper"
	case "fdb141b2-5d84-443e-8a35-4698c205a502":
		return "KeePassXC"
	case "53414d53-554e-4700-0000-000000000000":
		return "Samsung Pass"
	case "cb69481e-8ff7-4039-93ec-0a2729a154a8", "ee882879-721c-4913-9775-3dfcce97072a":
		return "YubiKey 5 Series"
	case "fa2b99dc-9e39-4257-8f92-4a30d23c4118", "2fc0579f-8113-47ea-b116-bb5a8db9202a":
		return "YubiKey 5 Series with NFC"
	}
	return ""
}
