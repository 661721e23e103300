package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/printers"
)

// globals are the flags every command shares.
type globals struct {
	server        string
	namespace     string
	allNamespaces bool
}

func newRoot(e *env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "tug",
		Short: "Show the state of a tug cluster (read-only; change it by committing to Git)",
		Long: "tug shows what tugd holds: the commit in force, the sync history, objects and logs.\n" +
			"It never changes anything: the cluster follows its Git repository, so change the\n" +
			"cluster by committing to Git (and roll back by reverting).",
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)

	server := e.getenv("TUG_SERVER")
	if server == "" {
		server = api.DefaultServer
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", server, "address of the tugd API (env TUG_SERVER)")
	pf.StringVarP(&g.namespace, "namespace", "n", "default", "namespace to show")
	pf.BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "show objects of every namespace")

	root.AddCommand(newStatusCmd(e, g), newGetCmd(e, g), newLogsCmd(e, g), newHistoryCmd(e, g), newDiffCmd(e, g))
	return root
}

func (g *globals) client() *api.Client { return api.NewClient(g.server) }

func newStatusCmd(e *env, g *globals) *cobra.Command {
	var (
		output  string
		objects bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the applied commit, a rejected newer commit, fetch errors, health and object counts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			get := g.client().Status
			if objects {
				get = g.client().StatusObjects
			}
			st, err := get(cmd.Context())
			if err != nil {
				return err
			}
			if output != "" {
				return printers.PrintData(e.stdout, st, output)
			}
			if err := printers.PrintStatus(e.stdout, st, e.clock()); err != nil || !objects || st.Health == nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			return printers.PrintHealth(e.stdout, st.Health.Objects, printers.Options{Now: e.clock()})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().BoolVar(&objects, "objects", false, "also list the health of every object committed to Git")
	return cmd
}

func newHistoryCmd(e *env, g *globals) *cobra.Command {
	var (
		output    string
		limit     int
		noHeaders bool
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the sync history: each commit tried, applied or rejected",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := g.client().Syncs(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if output != "" {
				return printers.PrintData(e.stdout, recs, output)
			}
			if len(recs) == 0 {
				fmt.Fprintln(e.stderr, "No syncs yet.")
				return nil
			}
			return printers.PrintHistory(e.stdout, recs, printers.Options{NoHeaders: noHeaders, Now: e.clock()})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many records (0: all)")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "leave out the header line")
	return cmd
}

func newLogsCmd(e *env, g *globals) *cobra.Command {
	var (
		opts corev1.PodLogOptions
		tail int64
		tf   logTimeFlags
	)
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the log of a container in a pod",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("expected 'logs POD [-c CONTAINER] [-f] [--previous] [--tail N]': give exactly one pod name")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.allNamespaces {
				return errors.New("logs take one pod in one namespace: use -n NAMESPACE instead of -A")
			}
			pod := args[0]
			if t, name, ok := strings.Cut(pod, "/"); ok {
				if kind, _ := manifest.KindForResource(strings.ToLower(t)); kind != manifest.KindPod {
					return fmt.Errorf("logs of %q: only pods have logs; name one as POD or pod/POD", pod)
				}
				pod = name
			}
			if tail >= 0 {
				opts.TailLines = &tail
			}
			if err := tf.apply(&opts); err != nil {
				return err
			}
			ctx := cmd.Context()
			rc, err := g.client().Logs(ctx, g.namespace, pod, &opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.Copy(e.stdout, rc); err != nil && !isCanceled(ctx, err) {
				return fmt.Errorf("read log of pod %s/%s: %w", g.namespace, pod, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Container, "container", "c", "", "container to print (required when the pod has several)")
	f.BoolVarP(&opts.Follow, "follow", "f", false, "keep streaming new lines")
	f.BoolVarP(&opts.Previous, "previous", "p", false, "print the log of the previous, terminated instance of the container")
	f.Int64Var(&tail, "tail", -1, "print only the last N lines (-1: all)")
	tf.register(f, &opts)
	return cmd
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%q takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}
