package podnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// NetworkName is the CNI network name and the host-local allocation
// directory's name.
const NetworkName = "tug"

// BridgeName is the node's pod bridge.
const BridgeName = "tug0"

const ifName = "eth0"

// Config locates the network's files.
type Config struct {
	DataDir   string // netns/ and cni/ live here
	CNIBinDir string // plugin binaries, /usr/lib/cni when empty
	PodCIDR   string // e.g. 10.42.0.0/24
}

// Network sets pod networks up and down.
type Network struct {
	netnsDir string
	cacheDir string
	ipamDir  string
	cni      *libcni.CNIConfig
	list     *libcni.NetworkConfigList
}

// New checks cfg and prepares the directories.
func New(cfg Config) (*Network, error) {
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if _, _, err := net.ParseCIDR(cfg.PodCIDR); err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cfg.PodCIDR, err)
	}
	n := &Network{
		netnsDir: filepath.Join(cfg.DataDir, "netns"),
		cacheDir: filepath.Join(cfg.DataDir, "cni", "cache"),
		ipamDir:  filepath.Join(cfg.DataDir, "cni", "ipam"),
	}
	for _, d := range []string{n.netnsDir, n.cacheDir, n.ipamDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	conf, err := ConfList(cfg.PodCIDR, n.ipamDir)
	if err != nil {
		return nil, err
	}
	n.list, err = libcni.ConfListFromBytes(conf)
	if err != nil {
		return nil, fmt.Errorf("cni conflist: %w", err)
	}
	// An explicit exec: libcni would otherwise create one lazily on first
	// use, a data race between pods set up concurrently.
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{cfg.CNIBinDir}, n.cacheDir, exec)
	return n, nil
}

// ConfList renders the "tug" conflist.
func ConfList(podCIDR, ipamDir string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       NetworkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      BridgeName,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// NetNSPath is where the namespace of pod uid is mounted.
func (n *Network) NetNSPath(uid types.UID) string {
	return filepath.Join(n.netnsDir, string(uid))
}

func (n *Network) rt(uid types.UID, nsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: string(uid), NetNS: nsPath, IfName: ifName}
}

// cniTimeout bounds one CNI operation (an ADD or DEL of the whole list).
const cniTimeout = time.Minute

// cniContext is the context a CNI call runs under: never cut short by the
// caller's cancellation (an agent stopping), only by cniTimeout. Killing a
// plugin does not kill the IPAM plugin it runs as a child (host-local),
// which then finishes on its own after the caller believes the call over
// — and may allocate an address no one records.
func cniContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cniTimeout)
}

// Setup makes sure pod uid has a network namespace wired to the bridge and
// returns its namespace path and IPv4 address.
func (n *Network) Setup(ctx context.Context, uid types.UID) (nsPath, ip string, err error) {
	ctx, cancel := cniContext(ctx)
	defer cancel()
	nsPath = n.NetNSPath(uid)
	if ip, ok := n.Ready(uid); ok {
		return nsPath, ip, nil
	}
	// Anything left from an earlier attempt (a namespace without a result,
	// a result whose namespace is gone after a reboot) is undone first:
	// host-local refuses a second allocation for the same container.
	_, statErr := os.Lstat(nsPath)
	_, cached := n.CachedIP(uid)
	if statErr == nil || cached {
		if err := n.Teardown(ctx, uid); err != nil {
			return "", "", err
		}
	}
	if err := createNetNS(nsPath); err != nil {
		return "", "", fmt.Errorf("pod %s: %w", uid, err)
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, n.rt(uid, nsPath))
	if err != nil {
		// An allocation without a cached result (a crash inside an
		// earlier ADD): release it and try once more.
		if delErr := n.cni.DelNetworkList(ctx, n.list, n.rt(uid, nsPath)); delErr == nil {
			res, err = n.cni.AddNetworkList(ctx, n.list, n.rt(uid, nsPath))
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("pod %s: cni add: %w", uid, err)
	}
	ip, err = firstIPv4(res)
	if err != nil {
		return "", "", fmt.Errorf("pod %s: cni add: %w", uid, err)
	}
	return nsPath, ip, nil
}

// Ready returns the address of pod uid when its namespace is mounted and
// CNI recorded a result for it.
func (n *Network) Ready(uid types.UID) (string, bool) {
	if !isNetNS(n.NetNSPath(uid)) {
		return "", false
	}
	return n.CachedIP(uid)
}

// CachedIP returns the address CNI gave pod uid, from libcni's cache.
func (n *Network) CachedIP(uid types.UID) (string, bool) {
	res, err := n.cni.GetNetworkListCachedResult(n.list, n.rt(uid, n.NetNSPath(uid)))
	if err != nil || res == nil {
		return "", false
	}
	ip, err := firstIPv4(res)
	return ip, err == nil
}

// Teardown releases pod uid's address (CNI DEL) and removes its namespace.
func (n *Network) Teardown(ctx context.Context, uid types.UID) error {
	ctx, cancel := cniContext(ctx)
	defer cancel()
	nsPath := n.NetNSPath(uid)
	rtNS := ""
	if isNetNS(nsPath) {
		rtNS = nsPath
	}
	if err := n.cni.DelNetworkList(ctx, n.list, n.rt(uid, rtNS)); err != nil {
		return fmt.Errorf("pod %s: cni del: %w", uid, err)
	}
	if err := n.releaseByHand(uid); err != nil {
		return fmt.Errorf("pod %s: %w", uid, err)
	}
	if err := removeNetNS(nsPath); err != nil {
		return fmt.Errorf("pod %s: %w", uid, err)
	}
	return nil
}

// releaseByHand removes the host-local allocations of uid that CNI DEL
// left: Debian's plugins speak CNI 1.0.0, without 1.1's GC, and DEL only
// releases a file whose content is exactly "<id>\r\n<ifname>", so one
// written otherwise (an older plugin, another interface) would hold its
// address forever. It holds host-local's lock, as the plugin does.
func (n *Network) releaseByHand(uid types.UID) error {
	dir := filepath.Join(n.ipamDir, NetworkName)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipam dir: %w", err)
	}
	var mine []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if net.ParseIP(e.Name()) == nil {
			continue
		}
		if id, ok := allocationOwner(p); ok && id == string(uid) {
			mine = append(mine, p)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ipam lock: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("ipam lock: %w", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN) //nolint:errcheck // closing unlocks too
	for _, p := range mine {
		if id, ok := allocationOwner(p); !ok || id != string(uid) {
			continue // reused meanwhile
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("release %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// Pods lists the UIDs this network still holds anything for: a namespace, a
// cached CNI result or an address allocation. The agent tears down those
// that belong to no pod.
func (n *Network) Pods() ([]types.UID, error) {
	seen := map[types.UID]bool{}
	entries, err := os.ReadDir(n.netnsDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		seen[types.UID(e.Name())] = true
	}
	results, err := os.ReadDir(filepath.Join(n.cacheDir, "results"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range results {
		name, ok := strings.CutPrefix(e.Name(), NetworkName+"-")
		if id, ok2 := strings.CutSuffix(name, "-"+ifName); ok && ok2 {
			seen[types.UID(id)] = true
		}
	}
	allocs, err := os.ReadDir(filepath.Join(n.ipamDir, NetworkName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range allocs {
		if net.ParseIP(e.Name()) == nil {
			continue // lock and last_reserved_ip files
		}
		if id, ok := allocationOwner(filepath.Join(n.ipamDir, NetworkName, e.Name())); ok {
			seen[types.UID(id)] = true
		}
	}
	out := make([]types.UID, 0, len(seen))
	for uid := range seen {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out, nil
}

func allocationOwner(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", false
	}
	id := strings.TrimSpace(sc.Text())
	return id, id != ""
}

func firstIPv4(res cnitypes.Result) (string, error) {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return "", fmt.Errorf("convert result: %w", err)
	}
	for _, ipc := range r.IPs {
		if ip4 := ipc.Address.IP.To4(); ip4 != nil {
			return ip4.String(), nil
		}
	}
	return "", fmt.Errorf("result has no IPv4 address")
}
