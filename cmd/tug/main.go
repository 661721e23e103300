// Command tug is tug's read-only command-line client. It shows what the
// tugd server holds (status, sync history, objects, logs) in kubectl's
// formats. It changes nothing: the cluster changes by committing to Git.
//
// This package holds flags and wiring only; fetching is in package api and
// formatting in package printers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, time.Now)
	stop()
	os.Exit(code)
}

// env is what commands take from the outside world, injected for tests.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	clock          func() time.Time
}

// run executes the command line and returns the exit code. Every failure
// prints one line, "error: ...", on stderr and exits 1.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, clock func() time.Time) int {
	root := newRoot(&env{stdout: stdout, stderr: stderr, getenv: getenv, clock: clock})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "error: "+oneLine(explain(root, err)))
	return 1
}

// writeVerbs are kubectl verbs that change a cluster. tug has none of them.
var writeVerbs = []string{
	"annotate", "apply", "autoscale", "cordon", "create", "delete", "drain", "edit", "expose",
	"label", "patch", "replace", "rollback", "rollout", "run", "scale", "set", "taint", "uncordon",
}

// explain turns cobra's unknown-command error (several lines, with
// suggestions) into one helpful sentence.
func explain(root *cobra.Command, err error) string {
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command ") {
		return msg
	}
	var name string
	if _, serr := fmt.Sscanf(strings.TrimPrefix(msg, "unknown command "), "%q", &name); serr != nil {
		return msg
	}
	msg = fmt.Sprintf("unknown command %q for %q", name, root.Name())
	if slices.Contains(writeVerbs, name) {
		return msg + ": tug is read-only: change the cluster by committing to Git"
	}
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return msg + fmt.Sprintf("; did you mean %q?", s[0])
	}
	return msg + "; run 'tug --help' for the commands"
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// isCanceled reports whether err only says that the user interrupted us.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()))
}
