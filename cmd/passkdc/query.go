package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/store"
)

// queryCommand is a read-only admin command over the configured store.
type queryCommand[T any] struct {
	use, short, long string
	args             cobra.PositionalArgs
	// query reads what the command shows.
	query func(ctx context.Context, cfg *config.Config, st store.Store, args []string) (T, error)
	// print writes it for people; --json writes it as indented JSON instead.
	print func(w io.Writer, v T) error
}

// command builds the cobra command with --config and --json; flags adds
// the command's own flags.
func (q queryCommand[T]) command(flags func(*cobra.Command)) *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use: q.use, Short: q.short, Long: q.long, Args: q.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, st, err := openConfigStore(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := q.query(cmd.Context(), cfg, st, args)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), v)
			}
			return q.print(cmd.OutOrStdout(), v)
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	if flags != nil {
		flags(cmd)
	}
	return cmd
}
