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
package probe
