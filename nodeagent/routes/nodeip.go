package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// NodeIP picks the address a node reports as its InternalIP when none is
// configured: the first IPv4 address of the interface holding the default
// route, or else the first non-loopback IPv4 address of any interface that
// is up (lowest interface index first).
func NodeIP(h *netlink.Handle) (netip.Addr, error) {
	if h == nil {
		h = &netlink.Handle{}
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || (r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask))) && r.LinkIndex > 0 {
			if ip, ok := linkIPv4(h, r.LinkIndex); ok {
				return ip, nil
			}
		}
	}
	links, err := h.LinkList()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list links: %w", err)
	}
	slices.SortFunc(links, func(a, b netlink.Link) int { return a.Attrs().Index - b.Attrs().Index })
	for _, l := range links {
		if l.Attrs().OperState == netlink.OperDown || l.Attrs().Flags&1 == 0 { // IFF_UP
			continue
		}
		if ip, ok := linkIPv4(h, l.Attrs().Index); ok {
			return ip, nil
		}
	}
	return netip.Addr{}, errors.New("no interface has a non-loopback IPv4 address")
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}

// linkIPv4 is the first global, non-loopback IPv4 address on a link.
func linkIPv4(h *netlink.Handle, index int) (netip.Addr, bool) {
	link, err := h.LinkByIndex(index)
	if err != nil {
		return netip.Addr{}, false
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.Unmap().Is4() && !ip.Unmap().IsLoopback() && !ip.Unmap().IsLinkLocalUnicast() {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
