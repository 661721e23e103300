package routes

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Protocol is the routing protocol number (rtm_protocol) on every route tug
// installs; routes without it are never changed. 0x74 is "t", unassigned in
// /etc/iproute2/rt_protos.
const Protocol netlink.RouteProtocol = 0x74

// Applier makes the main routing table's tug routes match a plan over
// netlink. It reads back only routes carrying Protocol.
type Applier struct {
	h   *netlink.Handle
	log *slog.Logger
}

// NewApplier returns an Applier over h: a handle in the namespace to
// program (netlink.NewHandleAt for a test namespace); nil means this
// process's own network namespace.
func NewApplier(h *netlink.Handle, log *slog.Logger) *Applier {
	if h == nil {
		h = &netlink.Handle{} // netlink's package functions use a zero Handle too
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{h: h, log: log}
}

// Installed lists the IPv4 routes in the main table carrying Protocol.
func (a *Applier) Installed() ([]Route, error) {
	rs, err := a.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: Protocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list routes of protocol %#x: %w", int(Protocol), err)
	}
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		if r.Dst == nil {
			continue // a default route of ours cannot exist; never touch one
		}
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw)
		out = append(out, Route{Dst: dst, Gw: gw.Unmap()})
	}
	return out, nil
}

// Apply installs want (replacing routes of Protocol to the same
// destinations) and deletes the other routes of Protocol. A route that
// fails (an unreachable gateway, say) does not stop the others; the errors
// come back joined, each naming its route.
func (a *Applier) Apply(want []Route) error {
	installed, err := a.Installed()
	if err != nil {
		return err
	}
	replace, del := Diff(installed, want)
	var errs []error
	for _, r := range del {
		if err := a.h.RouteDel(a.route(r)); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r, err))
			continue
		}
		a.log.Info("pod route removed", "dst", r.Dst, "via", r.Gw)
	}
	for _, r := range replace {
		if err := a.h.RouteReplace(a.route(r)); err != nil {
			errs = append(errs, fmt.Errorf("route %s (node %s): %w", r, r.Node, err))
			continue
		}
		a.log.Info("pod route installed", "dst", r.Dst, "via", r.Gw, "node", r.Node)
	}
	return errors.Join(errs...)
}

// Clear deletes every route of Protocol (tests, and an operator's cleanup).
func (a *Applier) Clear() error { return a.Apply(nil) }

func (a *Applier) route(r Route) *netlink.Route {
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Table:    unix.RT_TABLE_MAIN,
		Protocol: Protocol,
		Scope:    netlink.SCOPE_UNIVERSE,
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	}
	return nr
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones).Masked(), true
}
