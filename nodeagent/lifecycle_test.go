package nodeagent

import (
	"testing"
	"time"
)

func TestRemainingGrace(t *testing.T) {
	tests := []struct {
		grace, used, want time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 10 * time.Second, 20 * time.Second},
		{30 * time.Second, 29 * time.Second, minStopGrace}, // less than the minimum left
		{5 * time.Second, 5 * time.Second, minStopGrace},   // the hook used it all (timed out)
	}
	for _, tt := range tests {
		if got := remainingGrace(tt.grace, tt.used); got != tt.want {
			t.Errorf("remainingGrace(%s, %s) = %s, want %s", tt.grace, tt.used, got, tt.want)
		}
	}
}
