package nodeagent

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's resolv.conf limits: more is cut off.
const (
	maxDNSNameservers    = 3
	maxDNSSearchPaths    = 32
	maxDNSSearchListChar = 2048
)

// resolvConfig is a resolv.conf's content.
type resolvConfig struct {
	nameservers, searches, options []string
}

// parseResolvConf reads nameserver, search (the last one wins) and options
// lines, as the kubelet does with the host's file.
func parseResolvConf(data []byte) resolvConfig {
	var c resolvConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line, _, _ = strings.Cut(line, ";")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				c.nameservers = append(c.nameservers, f[1])
			}
		case "search":
			c.searches = slices.Clone(f[1:])
		case "options":
			c.options = append(c.options, f[1:]...)
		}
	}
	return c
}

// podResolvConf renders pod's /etc/resolv.conf from the host's as the
// kubelet does:
//
//   - ClusterFirst (the default; Default for hostNetwork pods):
//     nameserver clusterDNS, search <ns>.svc.<domain> svc.<domain> <domain>
//     followed by the host's searches, options ndots:5. Without a
//     clusterDNS it falls back to Default.
//   - ClusterFirstWithHostNet: ClusterFirst, hostNetwork or not.
//   - Default: the host's nameservers, searches and options.
//   - None: only what dnsConfig gives.
//
// dnsConfig's nameservers and searches are appended (duplicates dropped),
// its options override the same-named ones; then nameservers are cut to 3
// and searches to 32 domains and 2048 characters. It is pure.
func podResolvConf(pod *corev1.Pod, host []byte, clusterDNS, domain string) ([]byte, error) {
	h := parseResolvConf(host)
	var c resolvConfig
	cluster := false
	switch pod.Spec.DNSPolicy {
	case corev1.DNSClusterFirst, "":
		cluster = !pod.Spec.HostNetwork
	case corev1.DNSClusterFirstWithHostNet:
		cluster = true
	case corev1.DNSDefault, corev1.DNSNone:
	default:
		return nil, fmt.Errorf("pod %s/%s: dnsPolicy %q: want ClusterFirst, ClusterFirstWithHostNet, Default or None", pod.Namespace, pod.Name, pod.Spec.DNSPolicy)
	}
	switch {
	case pod.Spec.DNSPolicy == corev1.DNSNone:
	case cluster && clusterDNS != "":
		c.nameservers = []string{clusterDNS}
		c.searches = append([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, h.searches...)
		c.options = []string{"ndots:5"}
	default:
		c = h
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.nameservers = append(c.nameservers, dc.Nameservers...)
		c.searches = append(c.searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			c.options = slices.DeleteFunc(c.options, func(s string) bool {
				name, _, _ := strings.Cut(s, ":")
				return name == o.Name
			})
			c.options = append(c.options, opt)
		}
	}
	c.nameservers = dedupe(c.nameservers)
	c.searches = dedupe(c.searches)
	if len(c.nameservers) > maxDNSNameservers {
		c.nameservers = c.nameservers[:maxDNSNameservers]
	}
	if len(c.searches) > maxDNSSearchPaths {
		c.searches = c.searches[:maxDNSSearchPaths]
	}
	for len(c.searches) > 0 && len(strings.Join(c.searches, " ")) > maxDNSSearchListChar {
		c.searches = c.searches[:len(c.searches)-1]
	}
	var b strings.Builder
	if len(c.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.searches, " "))
	}
	for _, ns := range c.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(c.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.options, " "))
	}
	return []byte(b.String()), nil
}

// dedupe drops empty strings and later duplicates, keeping the order.
func dedupe(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
