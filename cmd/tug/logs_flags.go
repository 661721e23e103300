package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// logTimeFlags are the time options of tug logs, as kubectl names them.
type logTimeFlags struct {
	since     time.Duration
	sinceTime string
}

func (t *logTimeFlags) register(f *pflag.FlagSet, opts *corev1.PodLogOptions) {
	f.BoolVar(&opts.Timestamps, "timestamps", false, "prefix each line with its time (RFC 3339)")
	f.DurationVar(&t.since, "since", 0, "print only lines newer than this, e.g. 5s, 2m or 3h")
	f.StringVar(&t.sinceTime, "since-time", "", "print only lines written at or after this time (RFC 3339)")
}

// apply sets the options' since fields from the flags.
func (t *logTimeFlags) apply(opts *corev1.PodLogOptions) error {
	if t.since != 0 && t.sinceTime != "" {
		return errors.New("at most one of --since-time or --since may be given")
	}
	if t.since < 0 {
		return fmt.Errorf("--since %s: must be positive", t.since)
	}
	if t.since > 0 {
		secs := int64(math.Ceil(t.since.Seconds()))
		opts.SinceSeconds = &secs
	}
	if t.sinceTime != "" {
		ts, err := time.Parse(time.RFC3339Nano, t.sinceTime)
		if err != nil {
			return fmt.Errorf("--since-time %q: want an RFC 3339 time such as 2025-03-01T12:00:00Z", t.sinceTime)
		}
		mt := metav1.NewTime(ts)
		opts.SinceTime = &mt
	}
	return nil
}
