package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/admin"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/store"
)

func newTAPCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tap", Short: "Temporary access passes that bootstrap passkey enrolment"}
	cmd.AddCommand(newTAPIssueCommand(), newTAPListCommand(), newTAPRevokeCommand())
	return cmd
}

func newTAPIssueCommand() *cobra.Command {
	var cfgPath string
	var uses int
	var ttl time.Duration
	var asJSON, strict bool
	cmd := &cobra.Command{
		Use:   "issue USER",
		Short: "Issue a temporary access pass for USER (printed once, alone on the last line)",
		Long: "Issue a temporary access pass for USER. Only its hash is stored: the pass is printed once,\n" +
			"alone on the last line of output. Give it to the user over a trusted channel.\n\n" +
			"A user who could never get a ticket (not in a reveal-on-demand group, in a never-reveal group)\n" +
			"gets a warning on stderr (and in --json's warning); --strict refuses to issue the pass then,\n" +
			"and also when the replication policy cannot be read. Disabled, deleted or expired accounts\n" +
			"are always refused.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if uses < 1 || uses > 100 {
				return usageError{errors.New("--uses must be between 1 and 100")}
			}
			if ttl < time.Minute || ttl > 30*24*time.Hour {
				return usageError{errors.New("--ttl must be between 1m and 720h")}
			}
			cfg, st, err := openConfigStore(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			warning, err := ticketWarning(cmd.Context(), cfg, st, args[0])
			if err != nil {
				return err
			}
			if warning != "" && strict {
				return fmt.Errorf("%s: no pass issued (--strict)", warning)
			}
			if warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+warning)
			}
			issued, err := admin.IssueTAP(cmd.Context(), st, cfg.Realm, args[0], uses, ttl, "cli", time.Now())
			if err != nil {
				return err
			}
			issued.Warning = warning
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), issued)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "temporary access pass for %s: %d use(s), expires %s\n", issued.Principal, issued.Uses, issued.Expires.Format(time.RFC3339))
			_, err = fmt.Fprintln(out, issued.Pass)
			return err
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().IntVar(&uses, "uses", 1, "how many enrolments the pass allows (1 to 100)")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the pass is valid (1m to 720h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (includes the pass)")
	cmd.Flags().BoolVar(&strict, "strict", false, "refuse to issue a pass for a user who could never get a ticket")
	return cmd
}

// ticketWarning says why the user named name could never get a ticket ("":
// they can). An account problem (disabled, deleted, expired) is left to
// IssueTAP, which refuses it.
func ticketWarning(ctx context.Context, cfg *config.Config, st store.Store, name string) (string, error) {
	p, err := admin.FindPrincipal(ctx, st, cfg.Realm, name)
	if err != nil {
		return "", err
	}
	if p.Problem(time.Now()) != "" {
		return "", nil
	}
	tp := ticketPolicy(ctx, cfg)
	tk, err := tp.Tickets(ctx, st, p, time.Now())
	if err != nil || tk.Eligible {
		return "", err
	}
	if tp.Policy == nil {
		return fmt.Sprintf("cannot tell whether %s@%s may get tickets: %s", p.Name, cfg.Realm, tk.Why), nil
	}
	return fmt.Sprintf("%s@%s could never get a ticket: %s", p.Name, cfg.Realm, tk.Why), nil
}

func newTAPListCommand() *cobra.Command {
	return queryCommand[[]admin.TAPRow]{
		use: "list [USER]", short: "List open temporary access passes (of USER, or all; never the passes themselves)",
		long: "List open temporary access passes, of USER or of everyone. Neither the pass nor its hash is\n" +
			"ever shown. --json fields: id, principal, uses_left, created, expires, created_by.",
		args: cobra.MaximumNArgs(1),
		query: func(ctx context.Context, cfg *config.Config, st store.Store, args []string) ([]admin.TAPRow, error) {
			return admin.ListTAPs(ctx, st, cfg.Realm, optionalArg(args))
		},
		print: func(w io.Writer, taps []admin.TAPRow) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPRINCIPAL\tUSES LEFT\tCREATED\tEXPIRES\tBY")
			for _, t := range taps {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, t.Principal, t.UsesLeft, t.Created.Format(time.RFC3339),
					t.Expires.Format(time.RFC3339), orDash(t.CreatedBy))
			}
			return tw.Flush()
		},
	}.command(nil)
}

func newTAPRevokeCommand() *cobra.Command {
	return revokeCommand("revoke ID", "Revoke a temporary access pass: it can no longer enrol a passkey", "pass", admin.RevokeTAP)
}

// revoked is what a revoke command prints with --json.
type revoked struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

// revokeCommand builds a command that revokes one thing by ID and audits it.
func revokeCommand(use, short, kind string, revoke func(context.Context, store.Store, string, string, time.Time) error) *cobra.Command {
	var cfgPath, idFlag string
	var asJSON bool
	cmd := &cobra.Command{
		Use: use, Short: short,
		Long: short + ". An ID that starts with '-' (base64url IDs can) is given as --id=ID or after --.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := idFlag
			switch {
			case len(args) == 1 && id != "":
				return fmt.Errorf("give the ID once: as an argument or as --id")
			case len(args) == 1:
				id = args[0]
			case id == "":
				return fmt.Errorf("which %s? give its ID (an argument, or --id=ID)", kind)
			}
			_, st, err := openConfigStore(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := revoke(cmd.Context(), st, id, "cli", time.Now()); err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), revoked{Kind: kind, ID: id, Revoked: true})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s revoked\n", kind, id)
			return err
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&idFlag, "id", "", "the ID to revoke (for an ID that starts with '-': --id=ID)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (fields: kind, id, revoked)")
	return cmd
}

// optionalArg is the first positional argument, or "" when there is none.
func optionalArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
