package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/admin"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/store"
)

// withStandalone opens the configured store for a standalone-mode change; it
// refuses when a directory is configured (a sync would undo the change).
func withStandalone(ctx context.Context, cfgPath string, fn func(admin.Standalone) error) error {
	cfg, st, err := openConfigStore(ctx, cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if !standaloneOnly(cfg) {
		return admin.ErrDirectoryOwned
	}
	return fn(admin.Standalone{Store: st, Realm: cfg.Realm, Directory: cfg.LDAP.Directory, By: "cli", Now: time.Now})
}

func standaloneOnly(cfg *config.Config) bool { return cfg.Standalone.Enabled && cfg.LDAP.URL == "" }

// principalFlags are the flags of "principal add" and "principal set".
type principalFlags struct {
	sid, upn, displayName string
	enable, disable       bool
	addGroups, rmGroups   []string
	asJSON                bool
}

func (f *principalFlags) register(cmd *cobra.Command, set bool) {
	cmd.Flags().StringVar(&f.sid, "sid", "", "the user's SID, S-1-5-21-…-RID (required by add)")
	cmd.Flags().StringVar(&f.upn, "upn", "", "user principal name")
	cmd.Flags().StringVar(&f.displayName, "display-name", "", "name shown on the Security info page")
	cmd.Flags().BoolVar(&f.disable, "disable", false, "the principal may not sign in")
	cmd.Flags().StringSliceVar(&f.addGroups, "group", nil, "add to this group (by name; repeatable)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the principal as JSON (the fields of principal show --json)")
	if set {
		cmd.Flags().BoolVar(&f.enable, "enable", false, "the principal may sign in again")
		cmd.Flags().StringSliceVar(&f.rmGroups, "remove-group", nil, "remove from this group (by name; repeatable)")
	}
}

// change turns the flags that were given into a PrincipalChange.
func (f *principalFlags) change(cmd *cobra.Command) (admin.PrincipalChange, error) {
	var c admin.PrincipalChange
	str := func(name string, v string) *string {
		if cmd.Flags().Changed(name) {
			return &v
		}
		return nil
	}
	c.SID, c.UPN, c.DisplayName = str("sid", f.sid), str("upn", f.upn), str("display-name", f.displayName)
	if f.enable && f.disable {
		return c, usageError{fmt.Errorf("--enable and --disable exclude each other")}
	}
	if f.enable || f.disable {
		enabled := f.enable
		c.Enabled = &enabled
	}
	c.AddGroups, c.RemoveGroups = f.addGroups, f.rmGroups
	return c, nil
}

func newPrincipalAddCommand() *cobra.Command {
	var cfgPath string
	var f principalFlags
	cmd := &cobra.Command{
		Use:   "add NAME --sid SID",
		Short: "Standalone mode: add a principal (refused when a directory is configured)",
		Args:  cobra.ExactArgs(1),
		RunE:  f.run(&cfgPath, admin.Standalone.AddPrincipal, "added"),
	}
	addConfigFlag(cmd, &cfgPath)
	f.register(cmd, false)
	return cmd
}

// run is the body of "principal add" and "principal set": apply the flags'
// change with change and print what was done.
func (f *principalFlags) run(cfgPath *string, change func(admin.Standalone, context.Context, string, admin.PrincipalChange) (store.Principal, error), done string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := f.change(cmd)
		if err != nil {
			return err
		}
		return withStandalone(cmd.Context(), *cfgPath, func(s admin.Standalone) error {
			p, err := change(s, cmd.Context(), args[0], c)
			if err != nil {
				return err
			}
			if f.asJSON {
				row, err := withGroups(cmd.Context(), s.Store, p)
				if err != nil {
					return err
				}
				return writeIndentedJSON(cmd.OutOrStdout(), row)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "principal %s@%s %s (anchor %s)\n", p.Name, p.Realm, done, p.Anchor)
			return err
		})
	}
}

func newPrincipalSetCommand() *cobra.Command {
	var cfgPath string
	var f principalFlags
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Standalone mode: change a principal (SID, UPN, enabled, groups)",
		Args:  cobra.ExactArgs(1),
		RunE:  f.run(&cfgPath, admin.Standalone.SetPrincipal, "changed"),
	}
	addConfigFlag(cmd, &cfgPath)
	f.register(cmd, true)
	return cmd
}

func newPrincipalRemoveCommand() *cobra.Command {
	return standaloneNameCommand("remove NAME", "Standalone mode: remove a principal and revoke its passkeys (kept, marked deleted, for the audit trail)",
		"principal", admin.Standalone.RemovePrincipal)
}

// groupRow is a group as --json prints it.
type groupRow struct {
	Name      string    `json:"name"`
	SID       string    `json:"sid"`
	Anchor    string    `json:"anchor"`
	DN        string    `json:"dn,omitempty"`
	Directory string    `json:"directory"`
	Deleted   bool      `json:"deleted"`
	SyncedAt  time.Time `json:"synced_at"`
}

func toGroupRow(g store.Group) groupRow {
	return groupRow{Name: g.Name, SID: g.SID, Anchor: g.Anchor, DN: g.DN, Directory: g.Directory, Deleted: g.Deleted, SyncedAt: g.SyncedAt}
}

// removed is what a standalone remove command prints with --json.
type removed struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
}

// findGroup is the group named name in the configured directory's groups.
func findGroup(ctx context.Context, st store.Store, directory, name string) (store.Group, error) {
	gs, err := st.ListGroups(ctx, directory)
	if err != nil {
		return store.Group{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return store.Group{}, fmt.Errorf("group %s: %w", name, store.ErrNotFound)
}

func newGroupCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Standalone mode: groups that the replication policy and profiles name"}
	var cfgPath, sid string
	var asJSON bool
	add := &cobra.Command{
		Use: "add NAME --sid SID", Short: "Add a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStandalone(cmd.Context(), cfgPath, func(s admin.Standalone) error {
				if err := s.AddGroup(cmd.Context(), args[0], sid); err != nil {
					return err
				}
				if asJSON {
					g, err := findGroup(cmd.Context(), s.Store, s.Directory, args[0])
					if err != nil {
						return err
					}
					return writeIndentedJSON(cmd.OutOrStdout(), toGroupRow(g))
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "group %s added\n", args[0])
				return err
			})
		},
	}
	addConfigFlag(add, &cfgPath)
	add.Flags().StringVar(&sid, "sid", "", "the group's SID (standalone.allow/deny name SIDs)")
	add.Flags().BoolVar(&asJSON, "json", false, "print the group as JSON (fields of group list --json)")
	remove := standaloneNameCommand("remove NAME", "Remove a group (it no longer counts for anyone)", "group", admin.Standalone.RemoveGroup)
	list := queryCommand[[]groupRow]{
		use: "list", short: "List groups", args: cobra.NoArgs,
		query: func(ctx context.Context, cfg *config.Config, st store.Store, _ []string) ([]groupRow, error) {
			gs, err := st.ListGroups(ctx, cfg.LDAP.Directory)
			rows := make([]groupRow, 0, len(gs))
			for _, g := range gs {
				rows = append(rows, toGroupRow(g))
			}
			return rows, err
		},
		print: func(w io.Writer, gs []groupRow) error {
			for _, g := range gs {
				if _, err := fmt.Fprintf(w, "%s\t%s\n", g.Name, g.SID); err != nil {
					return err
				}
			}
			return nil
		},
	}.command(nil)
	cmd.AddCommand(add, remove, list)
	return cmd
}

// standaloneNameCommand is a standalone removal that takes one name.
func standaloneNameCommand(use, short, kind string, remove func(admin.Standalone, context.Context, string) error) *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStandalone(cmd.Context(), cfgPath, func(s admin.Standalone) error {
				if err := remove(s, cmd.Context(), args[0]); err != nil {
					return err
				}
				if asJSON {
					return writeIndentedJSON(cmd.OutOrStdout(), removed{Kind: kind, Name: args[0], Removed: true})
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s %s removed\n", kind, args[0])
				return err
			})
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (fields: kind, name, removed)")
	return cmd
}
