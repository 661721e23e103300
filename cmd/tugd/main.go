// Command tugd is tug's daemon: it syncs desired state from Git, reconciles
// it into pods, runs them on this node through containerd, and serves the
// read-only API. It wires the packages together and does nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/tug-dev/tug/api"
	"github.com/tug-dev/tug/gitsync"
	"github.com/tug-dev/tug/gitsync/webhook"
	"github.com/tug-dev/tug/manifest"
	"github.com/tug-dev/tug/nodeagent/containerdproc"
	"github.com/tug-dev/tug/printers"
	"github.com/tug-dev/tug/reconciler"
	"github.com/tug-dev/tug/state"
)

type options struct {
	repo, branch, path  string
	tag, commit         string
	dataDir, listen     string
	containerdAddress   string
	pollInterval        time.Duration
	nodeName, podCIDR   string
	cniBinDir, logLevel string
	webhookSecretFiles  []string
	gitCreds            gitsync.Credentials
	serviceCIDR         string
	clusterDNS          string
	nodeIP              string   // InternalIP; empty: defaultNodeIP
	agentListen         string   // remote node agents' API (mutual TLS); empty: off
	tlsSANs             []string // extra names in the agent listener's certificate
	pprofListen         string   // /debug/pprof for profiling; empty: off
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "tugd --repo PATH|URL",
		Short: "tugd runs a GitOps cluster node: Git → reconciler → containerd",
		Long: `tugd applies the Kubernetes manifests of one Git branch to this machine.
Change the cluster by committing to the repository; roll back by reverting.
The API on --listen is read-only.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.repo == "" {
				return errors.New("--repo is required: a local path or file:// URL of the Git repository to apply")
			}
			if err := checkRef(&o, cmd.Flags().Changed("branch")); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "Git repository to apply: a local path, file://, http(s)://, ssh:// or user@host:path URL")
	f.StringVar(&o.branch, "branch", "main", "branch to track")
	f.StringVar(&o.tag, "tag", "", "track this tag instead of a branch; re-resolved on every fetch (a moved tag is applied)")
	f.StringVar(&o.commit, "commit", "", "track this fixed commit (full SHA) instead of a branch; fetched once, never changes")
	f.StringVar(&o.path, "path", "", "subdirectory of the repository holding the manifests (default: the root)")
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/tug", "where tug keeps its state, containerd, images and logs")
	f.StringVar(&o.listen, "listen", "127.0.0.1:7443", "address of the read-only API (plain HTTP; keep it on loopback)")
	f.StringVar(&o.containerdAddress, "containerd-address", "", "socket of an existing containerd (empty: start and own one under --data-dir)")
	f.DurationVar(&o.pollInterval, "poll-interval", 60*time.Second, "how often to fetch the repository (±10% jitter); a local repository is also watched, and webhooks trigger a fetch at once")
	f.StringVar(&o.nodeName, "node-name", host, "name of this node")
	f.StringVar(&o.podCIDR, "pod-cidr", "10.42.0.0/24", "this node's pod address range (a /24 of 10.42.0.0/16)")
	f.StringVar(&o.cniBinDir, "cni-bin-dir", "/usr/lib/cni", "directory of the CNI plugins")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.gitCreds.Username, "git-username", "", "username for an http(s) repository (default git, for tokens) or an ssh one (default: the URL's)")
	f.StringVar(&o.gitCreds.PasswordFile, "git-password-file", "", "file holding the password or access token of an http(s) repository")
	f.StringVar(&o.gitCreds.SSHKeyFile, "git-ssh-key-file", "", "private key file for an ssh repository")
	f.StringVar(&o.gitCreds.KnownHostsFile, "git-known-hosts-file", "", "known_hosts file with the ssh server's host key (required for ssh: unknown or changed keys fail)")
	f.StringArrayVar(&o.webhookSecretFiles, "webhook-secret-file", nil, "enable a webhook at /hooks/PROVIDER on --listen: PROVIDER=PATH of a file holding its secret; PROVIDER is github, gitlab, gitea or generic (repeatable)")
	f.StringVar(&o.clusterDNS, "cluster-dns", "10.43.0.10", "cluster DNS address: ClusterFirst pods' nameserver; the proxy sends it to this node's DNS server on the pod bridge gateway (first address of --pod-cidr, port 53); empty disables cluster DNS")
	f.StringVar(&o.nodeIP, "node-ip", "", "this node's InternalIP: other nodes route this node's pod CIDR via it (default: the address of the interface holding the default route, else the first non-loopback address)")
	f.StringVar(&o.serviceCIDR, "service-cidr", "10.43.0.0/16", "service cluster IP range: the proxy programs nftables table ip tug and drops traffic to its unallocated addresses")
	f.StringVar(&o.agentListen, "agent-listen", "", "serve remote node agents (tugd agent) here, e.g. 0.0.0.0:7444: HTTPS with client certificates from tugd issue-node-cert required; empty: no remote nodes")
	f.StringArrayVar(&o.tlsSANs, "tls-san", nil, "extra host name or address in the --agent-listen certificate (repeatable)")
	f.StringVar(&o.pprofListen, "pprof-listen", "", "serve Go's /debug/pprof profiles here, e.g. 127.0.0.1:6060 (keep it on loopback); empty: off")
	cmd.AddCommand(issueNodeCertCommand(), agentCommand())
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(filepath.Join(o.dataDir, "images"), 0o755); err != nil {
		return err
	}

	st, err := state.Open(filepath.Join(o.dataDir, "state.db"), state.Options{Logger: log.With("component", "state")})
	if err != nil {
		return err
	}
	defer st.Close()

	g, ctx := errgroup.WithContext(ctx)

	if o.nodeIP == "" {
		o.nodeIP = defaultNodeIP(log)
	}
	// This machine is a node too (node.go): the same parts as tugd agent.
	nd, err := runNode(ctx, g, nodeDeps{
		store: st, nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, dataDir: o.dataDir,
		containerdAddress: o.containerdAddress, cniBinDir: o.cniBinDir, clusterDNS: o.clusterDNS,
		serviceCIDR: o.serviceCIDR, log: log,
	})
	if err != nil {
		return err
	}
	defer nd.Close()

	// The embedded node's range stays its own even if a remote node
	// registers first (runNode has checked the flag).
	var reserved map[string]netip.Prefix
	if p, err := netip.ParsePrefix(o.podCIDR); err == nil {
		reserved = map[string]netip.Prefix{o.nodeName: p.Masked()}
	}
	rec := reconciler.New(reconciler.Config{Store: st, Logger: log.With("component", "reconciler"), Clock: time.Now,
		ReservedPodCIDRs: reserved,
		StorageDir:       filepath.Join(o.dataDir, "storage")}) // local-path volumes; the node agent uses the same directory
	// One server: it always leads (HA brings an elected Leader).
	g.Go(func() error { return rec.RunLeading(ctx, reconciler.SingleServer{}) })

	lastApplied, _, err := st.LastApplied()
	if err != nil {
		return fmt.Errorf("read sync history: %w", err)
	}
	syncer, err := gitsync.New(gitsync.Config{
		Repo: o.repo, Branch: o.branch, Tag: o.tag, Commit: o.commit, Path: o.path, CacheDir: filepath.Join(o.dataDir, "git"),
		PollInterval: o.pollInterval, Credentials: o.gitCreds, Logger: log.With("component", "gitsync"), Clock: time.Now,
		LastApplied: lastApplied.SHA,
	}, historySink{rec, st})
	if err != nil {
		return err
	}
	g.Go(func() error { return syncer.Run(ctx) })
	if w, ok := gitsync.NewRefWatcher(o.repo, syncer, log.With("component", "gitsync")); ok {
		g.Go(func() error { return w.Run(ctx) })
	}
	secrets, err := webhook.LoadSecrets(o.webhookSecretFiles)
	if err != nil {
		return fmt.Errorf("--webhook-secret-file: %w", err)
	}

	var hooks *webhook.Handler
	if len(secrets) > 0 {
		hooks, err = webhook.New(webhook.Config{Secrets: secrets, Branch: o.branch, Tag: o.tag, Target: syncer, Logger: log.With("component", "webhook"), Clock: time.Now})
		if err != nil {
			return err
		}
	}
	watches := api.NewWatchCache(st, 0, log.With("component", "api"))
	g.Go(func() error { return watches.Run(ctx) })
	if err := servePprof(ctx, g, o.pprofListen); err != nil {
		return err
	}
	apiCfg := api.Config{
		Store: st, Watch: watches, Logs: nd.agent, NodeName: o.nodeName, IsNotFound: func(err error) bool { return errors.Is(err, state.ErrNotFound) },
		Repo: o.repo, Branch: o.branch, Tag: o.tag, Commit: syncer.Status().Commit, Logger: log.With("component", "api"), Clock: time.Now,
		Table:      printers.Table,
		SyncStatus: func() api.SyncStatus { return syncStatus(syncer.Status()) },
		Webhooks:   webhookStats(hooks),
	}
	if o.agentListen != "" {
		// Logs of pods on remote nodes come from their log listeners.
		if apiCfg.NodeLogs, err = nodeLogClient(o.dataDir); err != nil {
			return err
		}
	}
	handler := api.NewHandler(apiCfg)
	if o.agentListen != "" {
		if err := serveAgentAPI(ctx, g, o, apiCfg, st, log.With("component", "agent-api")); err != nil {
			return err
		}
	}
	if hooks != nil {
		mux := http.NewServeMux()
		mux.Handle("/hooks/", hooks)
		mux.Handle("/", handler)
		handler = mux
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	serveHTTP(ctx, g, srv, ln)
	log.Info("tugd started", "repo", o.repo, "branch", o.branch, "tag", o.tag, "commit", o.commit, "path", o.path, "api", "http://"+ln.Addr().String(), "node", o.nodeName, "containerd", nd.containerd)
	err = g.Wait()
	log.Info("tugd stopped; running containers keep running and are adopted at the next start")
	return err
}

// containerdNamespace holds every container, image and snapshot tug makes.
const containerdNamespace = containerdproc.Namespace

// checkRef allows one of --branch (when given explicitly), --tag and
// --commit; with a tag or a commit no branch is tracked. A fixed commit
// never changes, so webhooks would have nothing to trigger.
func checkRef(o *options, branchGiven bool) error {
	switch {
	case o.tag != "" && o.commit != "":
		return errors.New("--tag and --commit: give one ref to track, not both")
	case branchGiven && (o.tag != "" || o.commit != ""):
		return errors.New("--branch with --tag or --commit: give one ref to track (a branch, a tag or a fixed commit)")
	case o.commit != "" && len(o.webhookSecretFiles) > 0:
		return errors.New("--webhook-secret-file with --commit: a fixed commit never changes, so a webhook would trigger nothing; drop one")
	case o.tag != "" || o.commit != "":
		o.branch = ""
	}
	return nil
}

// webhookStats shows the webhook counters through the API; nil when no
// webhook is enabled.
func webhookStats(h *webhook.Handler) func() api.WebhookStats {
	if h == nil {
		return nil
	}
	return func() api.WebhookStats {
		s := h.Stats()
		return api.WebhookStats{Triggered: s.Triggered, Unauthorized: s.Unauthorized, TooLarge: s.TooLarge,
			Duplicates: s.Duplicates, Ignored: s.Ignored, BadRequests: s.BadRequests, Panics: s.Panics}
	}
}

// syncStatus shows gitsync's live state through the API. Validation errors
// are not fetch errors: they reach users as Rejected sync records.
func syncStatus(s gitsync.Status) api.SyncStatus {
	out := api.SyncStatus{LastFetch: s.FetchedAt, LastFetchedSHA: s.Fetched, LastSuccess: s.FetchedAt}
	var invalid manifest.ErrorList
	if s.Err != nil && !errors.As(s.Err, &invalid) {
		out.LastFetchError = s.Err.Error()
		if s.ErrAt.After(out.LastFetch) {
			out.LastFetch = s.ErrAt
		}
	}
	return out
}

// historySink is the reconciler as gitsync's Sink, plus gitsync.Recorder:
// records that change nothing else (a Superseded commit) go straight to the
// sync history.
type historySink struct {
	*reconciler.Reconciler
	store *state.Store
}

func (h historySink) Record(_ context.Context, rec manifest.SyncRecord) error {
	_, err := h.store.Apply(nil, nil, &rec)
	return err
}
