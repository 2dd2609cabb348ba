package main

import "github.com/spf13/cobra"

// exitStatus closes every admin command's description.
const exitStatus = "\n\nExit status: 0 done, 1 error (the message names the flag or configuration key to fix),\n2 usage error. --json prints one JSON value on stdout (fields: README, \"JSON output\")."

// helpTexts are the long descriptions and the examples of the admin
// commands that do not carry their own, by command path.
func helpTexts() map[string]struct{ long, example string } {
	return map[string]struct{ long, example string }{
		"passkdc version": {
			"Print the version of this passkdc binary: the package version stamped at build time\n(scripts/package), else the Go module version, else devel-<commit>.",
			"  passkdc version\n  passkdc version --json",
		},
		"passkdc sync": {"", "  passkdc sync --config /etc/passkdc/passkdc.yaml\n  passkdc sync --config /etc/passkdc/passkdc.yaml --full --dry-run --json"},
		"passkdc principal list": {
			"List the principals in the store: mirrored from the directory by passkdc sync, or added with\npasskdc principal add in standalone mode. --deleted includes those the directory no longer has.",
			"  passkdc principal list --config /etc/passkdc/passkdc.yaml\n  passkdc principal list --deleted --json --config /etc/passkdc/passkdc.yaml",
		},
		"passkdc principal show": {"", "  passkdc principal show alice --config /etc/passkdc/passkdc.yaml\n  passkdc principal show alice@CORP.EXAMPLE.TEST --json --config ..."},
		"passkdc principal add": {
			"Standalone mode (standalone.enabled, no ldap.url) only: add a principal with its SID, which\nthe PAC carries, and its groups (passkdc group add them first). Refused when a directory is\nconfigured: change the directory and run passkdc sync instead. Audited (principal.add).",
			"  passkdc principal add bob --sid S-1-5-21-1-2-3-1105 --upn bob@corp.example.test --group staff --config ...",
		},
		"passkdc principal set": {
			"Standalone mode only: change a principal's SID, UPN, display name, state (--enable,\n--disable) or groups (--group, --remove-group). Only the flags given change. Audited (principal.set).",
			"  passkdc principal set bob --disable --config ...\n  passkdc principal set bob --group admins --remove-group staff --json --config ...",
		},
		"passkdc principal remove": {
			"Standalone mode only: mark the principal deleted (kept for the audit trail) and revoke its\npasskeys; it can no longer sign in. Audited (principal.remove).",
			"  passkdc principal remove bob --config ...",
		},
		"passkdc group add": {
			"Standalone mode only: add a group with its SID. standalone.allow and standalone.deny and the\nprofiles' target_groups name groups by SID or name. Audited (group.add).",
			"  passkdc group add staff --sid S-1-5-21-1-2-3-1200 --config ...",
		},
		"passkdc group remove": {
			"Standalone mode only: mark the group deleted; it no longer counts for the replication policy\nor the profiles of anyone. Audited (group.remove).",
			"  passkdc group remove staff --config ...",
		},
		"passkdc group list": {
			"List the groups in the store (mirrored from the directory, or added in standalone mode): name\nand SID; --json adds anchor, DN, directory, deleted and synced_at.",
			"  passkdc group list --config ...",
		},
		"passkdc tap issue": {"", "  passkdc tap issue alice --uses 1 --ttl 1h --config /etc/passkdc/passkdc.yaml"},
		"passkdc tap list":  {"", "  passkdc tap list --config ...\n  passkdc tap list alice --json --config ..."},
		"passkdc tap revoke": {
			"Revoke an open temporary access pass by its ID (passkdc tap list shows it): it can no longer\nenrol a passkey. Audited.",
			"  passkdc tap revoke 3f2c… --config ...",
		},
		"passkdc cred list": {
			"List registered passkeys, of USER or of everyone: ID, name, AAGUID (the authenticator model),\nwhether it is synced (backup eligible), created, last used and state.",
			"  passkdc cred list alice --config ...",
		},
		"passkdc cred revoke": {
			"Revoke a passkey by its ID (passkdc cred list shows it): it can no longer sign in. Audited.",
			"  passkdc cred revoke q1w2e3… --config ...",
		},
		"passkdc keytab list": {
			"List the entries of a keytab without printing any key: principal, kvno split into the RODC\nnumber (high 16 bits) and the key version, encryption type and timestamp.",
			"  passkdc keytab list /var/lib/passkdc/krbtgt.keytab --json",
		},
		"passkdc keytab import": {"", "  passkdc keytab import /tmp/k.keytab --to /var/lib/passkdc/krbtgt.keytab --realm CORP.EXAMPLE.TEST --strict"},
	}
}

// document fills in the long descriptions and examples of cmd's tree from
// helpTexts, and closes each such command's description with the exit status.
func document(cmd *cobra.Command) {
	documentFrom(cmd, helpTexts())
}

func documentFrom(cmd *cobra.Command, help map[string]struct{ long, example string }) {
	if h, ok := help[cmd.CommandPath()]; ok {
		if cmd.Long == "" {
			cmd.Long = h.long
		}
		if cmd.Long == "" {
			cmd.Long = cmd.Short
		}
		cmd.Long += exitStatus
		if cmd.Example == "" {
			cmd.Example = h.example
		}
	}
	for _, c := range cmd.Commands() {
		documentFrom(c, help)
	}
}
