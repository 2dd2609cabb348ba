package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/admin"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/serve"
	"github.com/passkdc/passkdc/internal/storeopen"
	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/store"
)

// configEnv names the variable that supplies --config when the flag is absent.
const configEnv = "PASSKDC_CONFIG"

// addConfigFlag registers --config on cmd.
func addConfigFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "config", "", "configuration file (default $"+configEnv+")")
}

// loadConfigFile reads the configuration named by --config or $PASSKDC_CONFIG.
func loadConfigFile(path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv(configEnv)
	}
	if path == "" {
		return nil, usageError{errors.New("--config FILE is required (or set " + configEnv + ")")}
	}
	return config.Load(path)
}

// openConfigStore loads the configuration and opens its store; the caller closes it.
func openConfigStore(ctx context.Context, path string) (*config.Config, store.Store, error) {
	cfg, err := loadConfigFile(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := storeopen.Open(ctx, cfg.Store, nil)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

func newPrincipalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "principal",
		Short: "List and show principals mirrored from the directory",
	}
	cmd.AddCommand(newPrincipalListCommand(), newPrincipalShowCommand(), newPrincipalAddCommand(), newPrincipalSetCommand(), newPrincipalRemoveCommand())
	return cmd
}

// principalRow is a principal as printed by "principal list" and "show".
type principalRow struct {
	Name        string    `json:"name"`
	Realm       string    `json:"realm"`
	Anchor      string    `json:"anchor"`
	UPN         string    `json:"upn,omitempty"`
	SID         string    `json:"sid,omitempty"`
	DN          string    `json:"dn"`
	DisplayName string    `json:"display_name,omitempty"`
	Directory   string    `json:"directory"`
	Enabled     bool      `json:"enabled"`
	Deleted     bool      `json:"deleted"`
	Expires     time.Time `json:"expires,omitzero"`
	SyncedAt    time.Time `json:"synced_at"`
	Groups      []string  `json:"groups,omitempty"` // show only: every group, nested included
	// show only: whether and why the principal may get tickets, and its passkey profiles.
	MayGetTickets  *bool    `json:"may_get_tickets,omitempty"`
	TicketsWhy     string   `json:"tickets_why,omitempty"`
	TicketsRefusal string   `json:"tickets_refusal,omitempty"`
	NeverReveal    *bool    `json:"never_reveal,omitempty"`
	Profiles       []string `json:"profiles,omitempty"`
}

func toRow(p store.Principal) principalRow {
	return principalRow{
		Name: p.Name, Realm: p.Realm, Anchor: p.Anchor, UPN: p.UPN, SID: p.SID, DN: p.DN,
		DisplayName: p.DisplayName, Directory: p.Directory, Enabled: p.Enabled, Deleted: p.Deleted,
		Expires: p.Expires, SyncedAt: p.SyncedAt,
	}
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newPrincipalListCommand() *cobra.Command {
	var deleted bool
	return queryCommand[[]principalRow]{
		use: "list", short: "List mirrored principals (name, anchor, state, SID, last sync)", args: cobra.NoArgs,
		query: func(ctx context.Context, _ *config.Config, st store.Store, _ []string) ([]principalRow, error) {
			ps, err := st.ListPrincipals(ctx, store.PrincipalFilter{IncludeDeleted: deleted})
			if err != nil {
				return nil, err
			}
			rows := make([]principalRow, 0, len(ps))
			for _, p := range ps {
				rows = append(rows, toRow(p))
			}
			return rows, nil
		},
		print: printPrincipalTable,
	}.command(func(cmd *cobra.Command) {
		cmd.Flags().BoolVar(&deleted, "deleted", false, "include principals deleted in the directory")
	})
}

func principalState(r principalRow) string {
	switch {
	case r.Deleted:
		return "deleted"
	case !r.Enabled:
		return "disabled"
	case !r.Expires.IsZero() && r.Expires.Before(time.Now()):
		return "expired"
	}
	return "enabled"
}

func printPrincipalTable(w io.Writer, rows []principalRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREALM\tSTATE\tANCHOR\tSID\tSYNCED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Realm, principalState(r), r.Anchor, orDash(r.SID),
			r.SyncedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newPrincipalShowCommand() *cobra.Command {
	return queryCommand[principalRow]{
		use: "show NAME|ANCHOR", short: "Show one principal and every group it belongs to (nested included)",
		long: "Show one principal by name (name or name@REALM, case-insensitive) or by anchor (objectGUID / entryUUID).",
		args: cobra.ExactArgs(1),
		query: func(ctx context.Context, cfg *config.Config, st store.Store, args []string) (principalRow, error) {
			return showPrincipal(ctx, cfg, st, args[0])
		},
		print: printPrincipal,
	}.command(nil)
}

func showPrincipal(ctx context.Context, cfg *config.Config, st store.Store, arg string) (principalRow, error) {
	var p store.Principal
	var err error
	if anchor, aerr := ldapsync.CanonicalUUID(arg); aerr == nil {
		p, err = st.GetPrincipal(ctx, anchor)
	} else {
		name, realm := krbname.Split(arg, cfg.Realm)
		p, err = st.GetPrincipalByName(ctx, realm, name)
	}
	if err != nil {
		return principalRow{}, fmt.Errorf("principal %q: %w", arg, err)
	}
	row, err := withGroups(ctx, st, p)
	if err != nil {
		return row, err
	}
	tk, err := ticketPolicy(ctx, cfg).Tickets(ctx, st, p, time.Now())
	if err != nil {
		return row, err
	}
	row.MayGetTickets, row.NeverReveal = &tk.Eligible, &tk.NeverReveal
	row.TicketsWhy, row.TicketsRefusal, row.Profiles = tk.Why, tk.Refusal, tk.Profiles
	return row, nil
}

// ticketPolicy is the replication policy serve would apply (read from the
// directory unless standalone; an unreadable one is said, not fatal) and the
// configured passkey profiles.
func ticketPolicy(ctx context.Context, cfg *config.Config) admin.TicketPolicy {
	var tp admin.TicketPolicy
	tp.Profiles, tp.DefaultProfile, tp.PolicyErr = cfg.PasskeyProfiles()
	if tp.PolicyErr != nil {
		return tp
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.ErrorLevel)
	r, err := serve.ReplicationPolicy(ctx, cfg, log)
	if err != nil {
		tp.PolicyErr = err
		return tp
	}
	tp.Policy = r
	return tp
}

// withGroups is p's row with every group it belongs to (nested included).
func withGroups(ctx context.Context, st store.Store, p store.Principal) (principalRow, error) {
	row := toRow(p)
	gs, err := st.TransitiveGroups(ctx, p.Anchor)
	if err != nil {
		return principalRow{}, err
	}
	for _, g := range gs {
		row.Groups = append(row.Groups, g.Name)
	}
	return row, nil
}

// ticketsLine says whether and why the principal may get tickets.
func ticketsLine(r principalRow) string {
	switch {
	case r.MayGetTickets == nil:
		return "-"
	case *r.MayGetTickets:
		return "yes: " + r.TicketsWhy
	case r.NeverReveal != nil && *r.NeverReveal:
		return "no (never-reveal): " + r.TicketsWhy
	}
	return "no: " + r.TicketsWhy
}

func printPrincipal(w io.Writer, r principalRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	expires := "never"
	if !r.Expires.IsZero() {
		expires = r.Expires.UTC().Format(time.RFC3339)
	}
	for _, kv := range [][2]string{
		{"Name", r.Name + "@" + r.Realm}, {"State", principalState(r)}, {"Anchor", r.Anchor}, {"UPN", orDash(r.UPN)},
		{"SID", orDash(r.SID)}, {"DN", r.DN}, {"Display name", orDash(r.DisplayName)}, {"Directory", r.Directory},
		{"Expires", expires}, {"Synced", r.SyncedAt.UTC().Format(time.RFC3339)},
		{"Groups", orDash(strings.Join(r.Groups, ", "))},
		{"Tickets", ticketsLine(r)}, {"Passkey profiles", orDash(strings.Join(r.Profiles, " or "))},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}
