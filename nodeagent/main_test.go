package nodeagent

import (
	"os"
	"testing"

	"github.com/tug-dev/tug/nodeagent/logdriver"
)

// TestMain lets the test binary serve as the log driver of the tasks the
// integration tests start (Config.LogDriver = the test binary).
func TestMain(m *testing.M) {
	if logdriver.Invoked(os.Args) {
		logdriver.Main()
	}
	os.Exit(m.Run())
}
