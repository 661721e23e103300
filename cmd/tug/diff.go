package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/manifest"
)

// newDiffCmd is `tug diff BASE HEAD`: what merging HEAD would change,
// computed offline from the repository, with no server; and `tug diff
// --server URL HEAD`: what applying HEAD would change in the cluster.
func newDiffCmd(e *env, g *globals) *cobra.Command {
	var repoArg, dir string
	cmd := &cobra.Command{
		Use:   "diff [--repo PATH|file://URL] [--path DIR] BASE HEAD | diff --server URL [--repo ...] HEAD",
		Short: "Show the object-level changes between two commits, or a commit and the cluster, and validate HEAD",
		Long: "tug diff renders BASE and HEAD (branches, tags or commits) of a local repository the way\n" +
			"tugd would, and prints which objects are added (+), removed (-) and changed (~), with\n" +
			"each changed field as old → new. Secret values are redacted. It needs no server.\n" +
			"With --server and one ref, BASE is what the cluster has applied, read through the\n" +
			"tugd API: status and what tugd fills in (allocated addresses, its annotations) are not\n" +
			"compared, and Secrets are compared by their keys only (the API never serves values).\n" +
			"Exit status: 0 when HEAD is valid, 1 when it is not (its errors are listed).",
		Example: "  tug diff origin/main HEAD\n  tug diff --repo ../cluster --path deploy main feature\n  tug diff --server 127.0.0.1:7080 HEAD",
		Args: func(cmd *cobra.Command, args []string) error {
			server := cmd.Flags().Changed("server")
			switch {
			case server && len(args) != 1:
				return errors.New("with --server give one ref, HEAD: it is compared with what the cluster has applied")
			case !server && len(args) != 2:
				return errors.New("expected 'diff BASE HEAD' (offline) or 'diff --server URL HEAD'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := openLocalRepo(repoArg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			render := func(label, rev string) (plumbing.Hash, *manifest.Revision, manifest.ErrorList, error) {
				h, err := repo.ResolveRevision(plumbing.Revision(rev))
				if err != nil {
					return plumbing.ZeroHash, nil, nil, fmt.Errorf("%s %q: %w", label, rev, err)
				}
				r, err := gitsync.Render(ctx, repo.Storer, *h, dir)
				if errs, ok := manifest.AsErrorList(err); ok {
					return *h, nil, errs, nil
				}
				if err != nil {
					return *h, nil, nil, fmt.Errorf("%s %q: %w", label, rev, err)
				}
				return *h, r, nil, nil
			}
			w := e.stdout
			var (
				baseObjs        []manifest.Object
				head            *manifest.Revision
				headSHA         plumbing.Hash
				headErrs        manifest.ErrorList
				headArg         = args[len(args)-1]
				fromCluster     = len(args) == 1
				applied, headIn []manifest.Object
			)
			if fromCluster {
				c := g.client()
				st, err := c.Status(ctx)
				if err != nil {
					return err
				}
				if applied, err = appliedObjects(ctx, c); err != nil {
					return err
				}
				if headSHA, head, headErrs, err = render("HEAD", headArg); err != nil {
					return err
				}
				inForce := "<none>"
				if st.Applied != nil {
					inForce = shortSHA(st.Applied.SHA)
				}
				fmt.Fprintf(w, "diff cluster %s (%s applied) → %s (%s)\n", api.RedactURL(g.server), inForce, headArg, headSHA.String()[:12])
				fmt.Fprintln(w, "note: Secrets are compared by their keys only; the API never serves their values")
			} else {
				baseSHA, base, baseErrs, err := render("BASE", args[0])
				if err != nil {
					return err
				}
				if headSHA, head, headErrs, err = render("HEAD", headArg); err != nil {
					return err
				}
				fmt.Fprintf(w, "diff %s (%s) → %s (%s)\n", args[0], baseSHA.String()[:12], headArg, headSHA.String()[:12])
				if len(baseErrs) > 0 {
					fmt.Fprintf(w, "note: BASE does not validate (%s); comparing with an empty BASE\n", plural(len(baseErrs), "error"))
				}
				if base != nil {
					baseObjs = base.Objects
				}
			}
			if len(headErrs) > 0 {
				fmt.Fprintf(w, "HEAD does not validate:\n")
				for _, s := range headErrs.Strings() {
					fmt.Fprintf(w, "  %s\n", s)
				}
				return fmt.Errorf("HEAD %s does not validate (%s)", headSHA.String()[:12], plural(len(headErrs), "error"))
			}
			headIn = head.Objects
			if fromCluster {
				var err error
				if baseObjs, headIn, err = comparable(applied, head.Objects); err != nil {
					return err
				}
			}
			diffs, err := gitsync.DiffObjects(baseObjs, headIn)
			if err != nil {
				return err
			}
			if err := gitsync.WriteDiff(w, diffs); err != nil {
				return err
			}
			n := map[string]int{}
			for _, d := range diffs {
				n[d.Op]++
			}
			_, err = fmt.Fprintf(w, "%d added, %d removed, %d changed; HEAD is valid (%s)\n",
				n[gitsync.Added], n[gitsync.Removed], n[gitsync.Changed], plural(len(head.Objects), "object"))
			return err
		},
	}
	cmd.Flags().StringVar(&repoArg, "repo", ".", "the Git repository: a local path (or a directory inside its working tree) or a file:// URL")
	cmd.Flags().StringVar(&dir, "path", "", "subdirectory of the repository holding the manifests, as given to tugd --path (default: the root)")
	return cmd
}

// openLocalRepo opens a repository by path or file:// URL. Remote URLs are
// refused: tug diff runs offline.
func openLocalRepo(repo string) (*git.Repository, error) {
	p := repo
	if u, err := url.Parse(repo); err == nil && len(u.Scheme) > 1 {
		if u.Scheme != "file" {
			return nil, fmt.Errorf("--repo %s: tug diff works offline on a local repository; clone it first and pass its directory", u.Redacted())
		}
		p = u.Path
	} else if strings.Contains(repo, "@") && strings.Contains(repo, ":") {
		return nil, fmt.Errorf("--repo %s: tug diff works offline on a local repository; clone it first and pass its directory", repo)
	}
	r, err := git.PlainOpenWithOptions(p, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("--repo %s: not a Git repository (or a directory inside one)", repo)
	}
	if err != nil {
		return nil, fmt.Errorf("--repo %s: %w", repo, err)
	}
	return r, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
