package probe

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is what a probe is for.
type Kind string

// Probe kinds.
const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Result is a probe's settled result (or one check's outcome).
type Result int

// Results.
const (
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Unknown"
}

// Kubernetes' defaults for a probe's timing fields.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultTimeout          = 1 * time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

// Spec is the timing of a probe, with the defaults applied.
type Spec struct {
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	SuccessThreshold int
	FailureThreshold int
}

// SpecOf reads p's timing fields, applying Kubernetes' defaults to the
// fields that are left out (zero).
func SpecOf(p *corev1.Probe) Spec {
	s := Spec{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold),
		FailureThreshold: int(p.FailureThreshold),
	}
	if s.InitialDelay < 0 {
		s.InitialDelay = 0
	}
	if s.Period <= 0 {
		s.Period = DefaultPeriod
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.SuccessThreshold <= 0 {
		s.SuccessThreshold = DefaultSuccessThreshold
	}
	if s.FailureThreshold <= 0 {
		s.FailureThreshold = DefaultFailureThreshold
	}
	return s
}

// Machine is the state of one probe of one container run. It is pure: the
// caller passes the clock readings in.
type Machine struct {
	Kind    Kind
	Spec    Spec
	Started time.Time // when the container run started

	Result  Result // the settled result
	Message string // the last failed check's message, while Result is Failure

	run     int       // consecutive outcomes equal to last
	last    Result    // outcome of the last check
	lastRun time.Time // when the last check ran (zero: never)
}

// NewMachine starts following a probe of kind for a container run that
// started at started.
func NewMachine(kind Kind, spec Spec, started time.Time) *Machine {
	m := &Machine{Kind: kind, Spec: spec, Started: started}
	switch kind {
	case Readiness:
		m.Result = Failure
	case Liveness:
		m.Result = Success
	default:
		m.Result = Unknown
	}
	return m
}

// Next is when the next check is due: initialDelaySeconds after the run
// started for the first check, then periodSeconds after the last one. A
// settled startup probe (Success, or Failure that kills the container) and
// a liveness probe that has failed need no more checks: Next is zero.
func (m *Machine) Next() time.Time {
	if m.Done() {
		return time.Time{}
	}
	if m.lastRun.IsZero() {
		return m.Started.Add(m.Spec.InitialDelay)
	}
	return m.lastRun.Add(m.Spec.Period)
}

// Done reports whether the machine needs no more checks for this run: a
// startup probe that settled, or a liveness or startup probe that failed
// (the container is restarted and gets new machines).
func (m *Machine) Done() bool {
	switch m.Kind {
	case Startup:
		return m.Result != Unknown
	case Liveness:
		return m.Result == Failure
	}
	return false
}

// Record adds the outcome of a check that ran at now (Success or Failure;
// Unknown is ignored apart from the time) and reports whether the settled
// Result changed. The Result becomes Success after SuccessThreshold
// consecutive successes and Failure after FailureThreshold consecutive
// failures, as in the kubelet.
func (m *Machine) Record(outcome Result, message string, now time.Time) bool {
	m.lastRun = now
	if outcome == Unknown {
		return false
	}
	if outcome == m.last {
		m.run++
	} else {
		m.last, m.run = outcome, 1
	}
	if outcome == Failure {
		m.Message = message
	}
	threshold := m.Spec.SuccessThreshold
	if outcome == Failure {
		threshold = m.Spec.FailureThreshold
	}
	if m.run < threshold || m.Result == outcome {
		return false
	}
	m.Result = outcome
	if outcome == Success {
		m.Message = ""
	}
	return true
}
