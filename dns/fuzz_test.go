package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzLookup: any question name gets an answer without a panic, and only
// names outside the cluster's zone and reverse zone are forwarded.
func FuzzLookup(f *testing.F) {
	for _, s := range []string{"hello.hello.svc.cluster.local.", "_http._tcp.hello.hello.svc.cluster.local", "20.0.43.10.in-addr.arpa.",
		"cluster.local.", ".", "", "..", "a..cluster.local.", "1.2.3.4.5.in-addr.arpa.", "example.org"} {
		f.Add(s, uint16(mdns.TypeA))
	}
	x := testIndex()
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		ans := x.Lookup(mdns.Question{Name: name, Qtype: qtype, Qclass: mdns.ClassINET})
		if ans.Forward && (len(ans.Answer) > 0 || ans.Rcode != 0) {
			t.Errorf("%q: forwarded with an answer: %+v", name, ans)
		}
		if !ans.Forward && ans.Rcode != mdns.RcodeSuccess && ans.Rcode != mdns.RcodeNameError {
			t.Errorf("%q: rcode %d", name, ans.Rcode)
		}
	})
}
