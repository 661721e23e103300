// Package probe holds the kubelet's container probe rules: the defaults of
// a probe's timing fields, the pure state machine that turns single probe
// outcomes into a result (with initialDelaySeconds, periodSeconds and the
// success and failure thresholds), and the network checks of httpGet and
// tcpSocket probes.
//
// One Machine follows one probe of one run of a container: a restarted
// container gets fresh machines, as in the kubelet. The caller owns the
// clock and the timers:
//
//	m := probe.NewMachine(probe.Readiness, probe.SpecOf(c.ReadinessProbe), startedAt)
//	for {
//		sleepUntil(m.Next())
//		outcome, msg := runTheCheck(ctx) // bounded by m.Spec.Timeout
//		if m.Record(outcome, msg, clock()) {
//			// m.Result changed: report it
//		}
//	}
//
// Initial results follow the kubelet: a readiness probe is Failure until it
// succeeds, a liveness probe Success until it fails, a startup probe Unknown
// until it settles. A startup probe gates the other two: the caller does not
// run them (Gated) until the startup probe has succeeded.
//
// The network checks open a new connection per check, as the kubelet's
// do, and are built to be cheap when hundreds run every second: an httpGet
// probe is prepared once per container run (NewHTTPTarget: URL, Host
// header and request bytes) and each HTTPTarget.Check writes the request
// on a plain connection and reads the answer with http.ReadResponse, with
// the results and messages of Go's http.Client (NewHTTPClient, still used
// by lifecycle hooks) but none of its transport goroutines. Connections to
// an IP address are opened with a non-blocking connect(2) that is checked
// at once: to a pod on the node's bridge the handshake is over when the
// call returns, so the check never parks on the runtime's poller (a
// handshake still under way is waited for there, until the deadline), and
// a tcpSocket check closes the socket without registering it at all.
package probe
