package containerdproc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
)

// Config configures a containerd child process.
type Config struct {
	Dir    string       // e.g. <data-dir>/containerd; everything containerd writes lives here
	Binary string       // containerd executable; default "containerd" from PATH
	Logger *slog.Logger // default: discard
}

const (
	minBackoff     = 500 * time.Millisecond
	maxBackoff     = 30 * time.Second
	resetBackoff   = time.Minute // uptime after which the back-off starts over
	stopTimeout    = 10 * time.Second
	readyPoll      = 50 * time.Millisecond
	maxLogBytes    = 20 << 20 // containerd.log is rotated to containerd.log.1 above this at start
	probeTimeout   = time.Second
	staleDialLimit = 200 * time.Millisecond
)

// Proc is one containerd child process, restarted while Run runs.
type Proc struct {
	cfg   Config
	paths Paths
	log   *slog.Logger

	mu      sync.Mutex
	running bool          // Run was called
	pid     int           // current child, 0 when none
	done    chan struct{} // closed when Run returns
	runErr  error         // Run's result, valid once done is closed
}

// New returns a Proc for cfg. It does not start anything.
func New(cfg Config) *Proc {
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proc{
		cfg:   cfg,
		paths: PathsFor(cfg.Dir),
		log:   log.With("component", "containerd", "dir", cfg.Dir),
		done:  make(chan struct{}),
	}
}

// Address returns the path of containerd's gRPC socket, for containerd.New.
func (p *Proc) Address() string { return p.paths.Address }

// Paths returns the layout of files under the Proc's Dir.
func (p *Proc) Paths() Paths { return p.paths }

// RuncRoot returns a runc state root under Dir. containerd's runc shim
// defaults to /run/containerd/runc, shared by every containerd on the host;
// a caller that runs several containerds on one host (tests do) passes this
// root in the runc options of each container so their runc state cannot
// collide:
//
//	containerd.WithRuntime(plugin.RuntimeRuncV2, &options.Options{Root: p.RuncRoot()})
func (p *Proc) RuncRoot() string { return p.paths.RuncRoot }

// Pid returns the process ID of the running containerd, or 0 when none runs.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// errFatal marks errors that restarting cannot fix.
var errFatal = errors.New("cannot start containerd")

// Run writes the config, starts containerd and restarts it with back-off
// whenever it exits, until ctx ends. It then stops containerd (SIGTERM, at
// most 10 s, then SIGKILL) and returns nil. It returns an error at once when
// containerd cannot be started at all (missing binary, unusable Dir).
// Run may be called once.
func (p *Proc) Run(ctx context.Context) (err error) {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return fmt.Errorf("containerd in %s: Run called twice", p.cfg.Dir)
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.runErr = err
		p.mu.Unlock()
		close(p.done)
	}()

	bin, err := p.prepare()
	if err != nil {
		return err
	}
	backoff := minBackoff
	for {
		started := time.Now()
		err := p.runOnce(ctx, bin)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errFatal) {
			return err
		}
		if time.Since(started) > resetBackoff {
			backoff = minBackoff
		}
		p.log.Error("containerd exited; restarting", "err", err, "backoff", backoff.String(), "log", p.paths.Log)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// prepare checks the paths, creates the directories and writes the config.
func (p *Proc) prepare() (string, error) {
	if err := p.paths.check(); err != nil {
		return "", fmt.Errorf("%w: %w", errFatal, err)
	}
	bin, err := exec.LookPath(p.cfg.Binary)
	if err != nil {
		return "", fmt.Errorf("%w: find binary %q: %w", errFatal, p.cfg.Binary, err)
	}
	for _, d := range []string{p.paths.Dir, p.paths.Root, p.paths.State, p.paths.Temp, p.paths.RuncRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return "", fmt.Errorf("%w: create %s: %w", errFatal, d, err)
		}
	}
	if err := os.WriteFile(p.paths.Config, RenderConfig(p.paths.Dir), 0o600); err != nil {
		return "", fmt.Errorf("%w: write %s: %w", errFatal, p.paths.Config, err)
	}
	return bin, nil
}

// runOnce starts containerd and returns when it exits or, after ctx ends,
// once it is stopped.
func (p *Proc) runOnce(ctx context.Context, bin string) error {
	if err := p.removeStaleSockets(); err != nil {
		return err
	}
	logf, err := p.openLog()
	if err != nil {
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	defer logf.Close()

	cmd := exec.Command(bin, "--config", p.paths.Config)
	cmd.Dir = p.paths.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = childEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}

	// Pdeathsig fires when the thread that forked the child exits, so the
	// fork happens on a locked thread that lives until the child is reaped.
	startErr := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		exited <- cmd.Wait()
	}()
	if err := <-startErr; err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w: start %s: %w", errFatal, bin, err)
		}
		return fmt.Errorf("start %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	p.setPid(pid)
	defer p.setPid(0)
	p.log.Info("containerd started", "pid", pid, "address", p.paths.Address)

	select {
	case err := <-exited:
		return fmt.Errorf("containerd (pid %d) exited: %w", pid, exitErr(err))
	case <-ctx.Done():
	}
	p.log.Info("stopping containerd", "pid", pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		p.log.Info("containerd stopped", "pid", pid, "status", exitErr(err))
		return nil
	case <-time.After(stopTimeout):
	}
	p.log.Warn("containerd did not stop after SIGTERM; killing", "pid", pid, "waited", stopTimeout.String())
	_ = cmd.Process.Kill()
	<-exited
	return nil
}

func exitErr(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

func (p *Proc) setPid(pid int) {
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
}

// childEnv drops variables that would make containerd talk to tugd's
// supervisor as if it were tugd.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "LISTEN_FDS=") || strings.HasPrefix(kv, "LISTEN_PID=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// removeStaleSockets deletes sockets nobody answers on. A socket that still
// accepts connections belongs to a live process: containerd would fail to
// bind it, so that is reported instead.
func (p *Proc) removeStaleSockets() error {
	for _, s := range p.paths.sockets() {
		if _, err := os.Lstat(s); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		conn, err := net.DialTimeout("unix", s, staleDialLimit)
		if err == nil {
			conn.Close()
			return fmt.Errorf("socket %s is served by another live process (another containerd on this dir?)", s)
		}
		if err := os.Remove(s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale socket %s: %w", s, err)
		}
		p.log.Info("removed stale socket", "path", s)
	}
	return nil
}

// openLog opens containerd.log for appending, rotating a big one first.
func (p *Proc) openLog() (*os.File, error) {
	if fi, err := os.Stat(p.paths.Log); err == nil && fi.Size() > maxLogBytes {
		if err := os.Rename(p.paths.Log, p.paths.Log+".1"); err != nil {
			return nil, fmt.Errorf("rotate %s: %w", p.paths.Log, err)
		}
	}
	f, err := os.OpenFile(p.paths.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p.paths.Log, err)
	}
	return f, nil
}

// WaitReady returns once containerd answers a Version call on its socket. It
// fails when ctx ends first or when Run has returned.
func (p *Proc) WaitReady(ctx context.Context) error {
	var last error
	for {
		if last = p.probe(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd at %s not ready: %w (last error: %v; see %s)", p.paths.Address, ctx.Err(), last, p.paths.Log)
		case <-p.done:
			p.mu.Lock()
			err := p.runErr
			p.mu.Unlock()
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("containerd at %s not ready: Run returned: %w", p.paths.Address, err)
		case <-time.After(readyPoll):
		}
	}
}

// probe asks the socket for containerd's version.
func (p *Proc) probe(ctx context.Context) error {
	if _, err := os.Stat(p.paths.Address); err != nil {
		return fmt.Errorf("no socket yet: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	client, err := containerd.New(p.paths.Address, containerd.WithTimeout(probeTimeout))
	if err != nil {
		return err
	}
	defer client.Close()
	if _, err := client.Version(ctx); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	return nil
}
