package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"directsms/numbers"
)

const bulkUsage = `usage: directsms bulk-assign --tenant ID FILE.csv [--dry-run] [--errors OUT.csv]`

// runBulkAssign assigns direct numbers from a CSV file, as POST /v1/bulk/direct-numbers does,
// straight against the database. It prints the summary on stdout and progress on stderr; rows
// that failed make it exit 1 after everything valid was applied.
func runBulkAssign(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bulk-assign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database-url", getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	tenant := fs.String("tenant", "", "the tenant's id (required)")
	dryRun := fs.Bool("dry-run", false, "validate every row and report, assigning nothing")
	errorsPath := fs.String("errors", "", "write the error log (row,column,value,code,message) to this CSV file")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 || *tenant == "" {
		return errors.New(bulkUsage)
	}
	if *dsn == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	f, err := os.Open(files[0])
	if err != nil {
		return fmt.Errorf("open %s: %w", files[0], err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", files[0], err)
	}

	prog := newProgress(stderr)
	read := prog.bytes("reading "+filepath.Base(files[0]), info.Size())
	file, err := numbers.ParseBulkCSV(&countingReader{r: f, add: read.add})
	if err != nil {
		read.end("")
		return err
	}
	read.end(fmt.Sprintf("read %d rows", len(file.Rows)))

	db, err := openAndMigrate(ctx, *dsn, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer db.Close()
	what := "validating and assigning in one transaction"
	if *dryRun {
		what = "validating (dry run: nothing is written)"
	}
	work := prog.wait(what)
	res, err := numbers.NewStore(db, numbers.Config{}).BulkAssign(ctx, *tenant, file, *dryRun)
	if err != nil {
		work.end("")
		return err
	}
	work.end("done")

	summary := fmt.Sprintf("rows %d, applied %d, unchanged %d, failed %d", res.Rows, res.Applied, res.Unchanged, res.Failed)
	if res.DryRun {
		summary += " (dry run: nothing was written)"
	}
	fmt.Fprintln(stdout, summary)
	if *errorsPath != "" {
		if err := writeErrorLog(*errorsPath, res.Errors); err != nil {
			return err
		}
	} else {
		printErrors(stderr, res.Errors)
	}
	if res.Failed > 0 {
		where := "above"
		if *errorsPath != "" {
			where = "in " + *errorsPath
		}
		return fmt.Errorf("%d failed; the error log is %s", res.Failed, where)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the positional arguments (the
// usage puts the file between them), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func writeErrorLog(path string, errs []numbers.BulkError) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create error log: %w", err)
	}
	if err := numbers.WriteErrorsCSV(out, errs); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write error log %s: %w", path, err)
	}
	return nil
}

// printErrors shows the first error lines; the whole log is what --errors is for.
func printErrors(w io.Writer, errs []numbers.BulkError) {
	const shown = 20
	for i, e := range errs {
		if i == shown {
			fmt.Fprintf(w, "... and %d more; use --errors FILE for the whole log\n", len(errs)-shown)
			return
		}
		fmt.Fprintf(w, "row %d, column %d (%q): %s: %s\n", e.Row, e.Column, e.Value, e.Code, e.Message)
	}
}

// countingReader reports every read's size, for the progress bar.
type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(int64(n))
	return n, err
}
