package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/passkdc/passkdc/internal/check"
	"github.com/passkdc/passkdc/internal/dirconfig"
	"github.com/passkdc/passkdc/ldapsync"
)

func newSyncCommand() *cobra.Command {
	var cfgPath string
	var full, dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Mirror principals and groups from the directory into the store",
		Long: "Mirror principals and groups from the directory (Active Directory or OpenLDAP) into the store.\n" +
			"Incremental when possible; full on the first run, with --full, after sync.full_interval, or when\n" +
			"the directory's database changed. The store is updated in one transaction, or not at all.\n" +
			"Progress goes to stderr (a bar on a terminal); the summary is the last line of stdout.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := openConfigStore(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			log := logrus.New()
			log.SetOutput(cmd.ErrOrStderr())
			log.SetLevel(logrus.WarnLevel)
			s, err := dirconfig.NewSyncer(cfg, st, nil, log)
			if err != nil {
				return err
			}
			pp := newProgressPrinter(cmd.ErrOrStderr())
			sum, err := s.Sync(cmd.Context(), ldapsync.SyncOptions{Full: full, DryRun: dryRun, Progress: pp.report})
			pp.done()
			if err != nil {
				return withDirectoryFix(err)
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), sum)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return err
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&full, "full", false, "read the whole directory (marks what is gone as deleted)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change, write nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// progressPrinter shows sync progress: a redrawn line on a terminal, one
// plain line per phase (and every 10,000 entries) otherwise.
type progressPrinter struct {
	w      io.Writer
	tty    bool
	phase  string
	last   int
	drawn  bool
	lastAt time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) report(pr ldapsync.Progress) {
	if p.tty {
		p.redraw(pr)
		return
	}
	if pr.Phase != p.phase || pr.Done-p.last >= 10000 || (pr.Total > 0 && pr.Done == pr.Total) {
		fmt.Fprintf(p.w, "sync: %s %s\n", pr.Phase, counts(pr))
		p.phase, p.last = pr.Phase, pr.Done
	}
}

func (p *progressPrinter) redraw(pr ldapsync.Progress) {
	now := time.Now()
	if pr.Phase == p.phase && now.Sub(p.lastAt) < 100*time.Millisecond && pr.Done != pr.Total {
		return
	}
	if pr.Phase != p.phase && p.drawn {
		fmt.Fprintln(p.w)
	}
	p.phase, p.lastAt, p.drawn = pr.Phase, now, true
	line := fmt.Sprintf("%-7s %s", pr.Phase, counts(pr))
	if pr.Total > 0 {
		const width = 30
		n := pr.Done * width / pr.Total
		line = fmt.Sprintf("%-7s [%s%s] %3d%% %s", pr.Phase, strings.Repeat("#", n), strings.Repeat(".", width-n),
			pr.Done*100/pr.Total, counts(pr))
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
}

func (p *progressPrinter) done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func counts(pr ldapsync.Progress) string {
	if pr.Total > 0 {
		return fmt.Sprintf("%d/%d", pr.Done, pr.Total)
	}
	return fmt.Sprintf("%d", pr.Done)
}

// withDirectoryFix adds the config key to change to a failure to reach,
// trust or bind to the directory (the fix passkdc check gives).
func withDirectoryFix(err error) error {
	if errors.Is(err, ldapsync.ErrTLS) || errors.Is(err, ldapsync.ErrBadCredentials) || errors.Is(err, ldapsync.ErrUnreachable) {
		return fmt.Errorf("%w\nfix: %s", err, check.DirectoryFix(err))
	}
	return err
}
