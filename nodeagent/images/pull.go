package images

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	cimages "github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullOptions tune a pull.
type PullOptions struct {
	// Auths are the credentials to try, in order (Keyring.Lookup); after
	// the last one fails, or when there are none, the pull is anonymous
	// only if there were none. The first that works is used.
	Auths []Auth
	// Progress, when set, is called every ProgressEvery (default 10 s)
	// while a pull runs, with the bytes fetched so far and the total size
	// known so far.
	Progress      func(done, total int64)
	ProgressEvery time.Duration
	// PlainHTTP tells which registry hosts speak plain HTTP; default:
	// localhost and loopback addresses (docker.MatchLocalhost), as
	// containerd's own defaults.
	PlainHTTP func(host string) (bool, error)
	// HTTPClient is the client the resolver uses; default http.DefaultClient.
	HTTPClient *http.Client
	// Pulling, when set, is called by EnsureWith right before it pulls.
	Pulling func()
}

// Pulled reports a pull.
type Pulled struct {
	Took time.Duration
	Size int64 // bytes of the content the image is made of
}

// Pull fetches ref (a normalized name) with the first of opts.Auths the
// registry accepts, unpacks it into Snapshotter and returns it. The error
// of the last attempt is returned, with the credentials named, never shown.
func Pull(ctx context.Context, client *containerd.Client, name string, opts PullOptions) (containerd.Image, Pulled, error) {
	start := time.Now()
	auths := opts.Auths
	if len(auths) == 0 {
		auths = []Auth{{}}
	}
	var errs []error
	for _, auth := range auths {
		img, size, err := pullOnce(ctx, client, name, auth, opts)
		if err == nil {
			return img, Pulled{Took: time.Since(start), Size: size}, nil
		}
		if auth.Source != "" {
			err = fmt.Errorf("with %s: %w", auth, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, Pulled{}, errors.Join(errs...)
}

func pullOnce(ctx context.Context, client *containerd.Client, name string, auth Auth, opts PullOptions) (containerd.Image, int64, error) {
	plain := opts.PlainHTTP
	if plain == nil {
		plain = docker.MatchLocalhost
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	authOpts := []docker.AuthorizerOpt{docker.WithAuthClient(hc)}
	if auth.Username != "" || auth.IdentityToken != "" || auth.Password != "" {
		authOpts = append(authOpts, docker.WithAuthCreds(func(string) (string, string, error) {
			if auth.IdentityToken != "" {
				return "", auth.IdentityToken, nil
			}
			return auth.Username, auth.Password, nil
		}))
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithClient(hc),
			docker.WithPlainHTTP(plain),
			docker.WithAuthorizer(docker.NewDockerAuthorizer(authOpts...)),
		),
	})

	tr := &progressTracker{seen: map[string]ocispec.Descriptor{}}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if opts.Progress != nil {
		every := opts.ProgressEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					done, total := tr.progress(pctx, client.ContentStore())
					opts.Progress(done, total)
				}
			}
		}()
	}
	img, err := client.Pull(ctx, name,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(Snapshotter),
		containerd.WithImageHandler(cimages.HandlerFunc(tr.handle)),
	)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, 0, err
	}
	size, err := img.Size(ctx)
	if err != nil {
		size = 0
	}
	return img, size, nil
}

// progressTracker records the descriptors a pull fetches.
type progressTracker struct {
	mu   sync.Mutex
	seen map[string]ocispec.Descriptor
}

func (t *progressTracker) handle(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	t.mu.Lock()
	t.seen[remotes.MakeRefKey(ctx, desc)] = desc
	t.mu.Unlock()
	return nil, nil
}

// progress sums the bytes of the descriptors seen that are in the content
// store or being written to it.
func (t *progressTracker) progress(ctx context.Context, cs content.Store) (done, total int64) {
	t.mu.Lock()
	seen := make(map[string]ocispec.Descriptor, len(t.seen))
	for k, v := range t.seen {
		seen[k] = v
	}
	t.mu.Unlock()
	active := map[string]int64{}
	if sts, err := cs.ListStatuses(ctx); err == nil {
		for _, s := range sts {
			active[s.Ref] = s.Offset
		}
	}
	for ref, d := range seen {
		total += d.Size
		if off, ok := active[ref]; ok {
			done += off
			continue
		}
		if _, err := cs.Info(ctx, d.Digest); err == nil {
			done += d.Size
		} else if !errdefs.IsNotFound(err) {
			continue
		}
	}
	return done, total
}

// HumanBytes prints n as the kubelet prints image sizes: "12.3MB".
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%cB", float64(n)/float64(div), "kMGTPE"[exp])
}
