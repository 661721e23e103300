// Package backoff computes the kubelet's crash-loop restart delay.
//
// It is pure: the caller keeps the State (tug stores it in container labels
// so it survives a restart of tugd) and passes the clock readings in.
//
// The rules follow the kubelet: the first restart after a container exits
// happens at once; every further restart waits Initial, then twice as long
// each time, up to Max. A container that ran longer than Reset since its last
// restart starts over from an immediate restart.
//
//	p := backoff.Default
//	if wait := p.Wait(st, finishedAt, now); wait > 0 {
//		// report CrashLoopBackOff, requeue after wait
//	} else {
//		st = p.Next(st, finishedAt, now) // persist st, then restart
//	}
package backoff

import "time"

// Policy is the shape of the back-off.
type Policy struct {
	Initial time.Duration // delay after the first back-off step (10 s)
	Max     time.Duration // cap (5 min)
	Reset   time.Duration // a run this long since the last restart resets the back-off (10 min)
}

// Default is the kubelet's policy.
var Default = Policy{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}

// State is the back-off of one container. The zero State means the container
// has never been restarted (or its back-off was reset).
type State struct {
	Delay time.Duration // current delay; zero when not backing off
	Last  time.Time     // when the last restart happened
}

// IsZero reports whether s is the zero State.
func (s State) IsZero() bool { return s.Delay == 0 && s.Last.IsZero() }

func (p Policy) expired(s State, finishedAt time.Time) bool {
	return s.Delay == 0 || finishedAt.Sub(s.Last) > p.Reset
}

// Wait returns how long, from now, the restart of a container that exited at
// finishedAt must still wait. Zero means restart now.
func (p Policy) Wait(s State, finishedAt, now time.Time) time.Duration {
	if p.expired(s, finishedAt) {
		return 0
	}
	until := finishedAt.Add(s.Delay)
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// Next returns the state to record when the container that exited at
// finishedAt is restarted at now.
func (p Policy) Next(s State, finishedAt, now time.Time) State {
	if p.expired(s, finishedAt) {
		return State{Delay: p.Initial, Last: now}
	}
	d := 2 * s.Delay
	if d > p.Max {
		d = p.Max
	}
	return State{Delay: d, Last: now}
}
