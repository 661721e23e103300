// Command tug-logdriver is the container log driver tugd's node agent
// hands to containerd's shim (package nodeagent/logdriver): a small
// process per task that writes its timestamped, rotated log. tugd uses it
// when it sits beside tugd, and runs as the driver itself otherwise; this
// binary costs about 1 MB of memory per container instead of about 5.
package main

import "github.com/tug-dev/tug/nodeagent/logdriver"

func main() { logdriver.Main() }
