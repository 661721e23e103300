package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/printers"
)

// getTypes are the resource types tug get knows, for help and errors.
const getTypes = "pods (po), deployments (deploy), replicasets (rs), statefulsets (sts), daemonsets (ds), jobs, cronjobs (cj), services (svc), endpoints (ep), configmaps (cm), secrets, nodes (no), namespaces (ns)"

func newGetCmd(e *env, g *globals) *cobra.Command {
	var (
		selector  string
		output    string
		noHeaders bool
	)
	cmd := &cobra.Command{
		Use:   "get TYPE [NAME...]",
		Short: "List objects or show some by name, as kubectl get does",
		Long:  "List objects or show some by name, as kubectl get does.\n\nTypes: " + getTypes + ".",
		Example: "  tug get pods\n  tug get deploy web -o yaml\n  tug get po -A -o wide\n" +
			"  tug get svc -l app=web",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := printers.ValidateOutput(output); err != nil {
				return err
			}
			kind, names, err := parseGetArgs(args)
			if err != nil {
				return err
			}
			if selector != "" && len(names) > 0 {
				return errors.New("name cannot be provided when a selector is specified")
			}
			if g.allNamespaces && len(names) > 0 && manifest.Namespaced(kind) {
				return errors.New("a resource cannot be retrieved by name across all namespaces: use -n NAMESPACE")
			}
			opts := printers.Options{
				Output:        output,
				WithNamespace: g.allNamespaces && manifest.Namespaced(kind),
				NoHeaders:     noHeaders,
				Now:           e.clock(),
			}
			ctx := cmd.Context()
			c := g.client()

			if len(names) > 0 {
				var (
					objs []manifest.Object
					errs []error
				)
				for _, name := range names {
					obj, err := c.Get(ctx, kind, g.namespace, name)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					objs = append(objs, obj)
				}
				switch {
				case len(names) == 1 && len(objs) == 1:
					err = printers.PrintObject(e.stdout, objs[0], opts)
				case len(objs) > 0:
					err = printers.PrintList(e.stdout, kind, objs, opts)
				}
				return errors.Join(append([]error{err}, errs...)...)
			}

			ns := g.namespace
			if g.allNamespaces {
				ns = ""
			}
			objs, err := c.List(ctx, kind, ns, selector)
			if err != nil {
				return err
			}
			if len(objs) == 0 && (output == printers.OutputTable || output == printers.OutputWide || output == printers.OutputName) {
				if ns == "" || !manifest.Namespaced(kind) {
					fmt.Fprintln(e.stderr, "No resources found")
				} else {
					fmt.Fprintf(e.stderr, "No resources found in %s namespace.\n", ns)
				}
				return nil
			}
			return printers.PrintList(e.stdout, kind, objs, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&selector, "selector", "l", "", "label selector (app=web, tier in (a,b), !canary)")
	f.StringVarP(&output, "output", "o", "", "output format: wide, json, yaml or name")
	f.BoolVar(&noHeaders, "no-headers", false, "leave out the header line of tables")
	return cmd
}

// parseGetArgs reads "TYPE [NAME...]" or "TYPE/NAME..." (one type).
func parseGetArgs(args []string) (kind string, names []string, err error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("you must specify the type of resource to get: %s", getTypes)
	}
	resolve := func(t string) (string, error) {
		k, ok := manifest.KindForResource(strings.ToLower(t))
		if !ok || !servedKind(k) {
			return "", fmt.Errorf("the server doesn't have a resource type %q (tug serves %s)", t, getTypes)
		}
		return k, nil
	}
	if !strings.Contains(args[0], "/") {
		kind, err := resolve(args[0])
		return kind, args[1:], err
	}
	for _, a := range args {
		t, name, ok := strings.Cut(a, "/")
		if !ok || name == "" {
			return "", nil, fmt.Errorf("%q: write either TYPE NAME... or TYPE/NAME...", a)
		}
		k, err := resolve(t)
		if err != nil {
			return "", nil, err
		}
		if kind != "" && k != kind {
			return "", nil, fmt.Errorf("%q: tug get shows one type at a time, not both %s and %s", a, manifest.Plural(kind), manifest.Plural(k))
		}
		kind = k
		names = append(names, name)
	}
	return kind, names, nil
}

// servedKind reports whether the API serves kind (every kind tug stores).
func servedKind(kind string) bool {
	_, ok := manifest.GVK(kind)
	return ok
}
