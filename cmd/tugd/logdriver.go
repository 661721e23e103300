package main

import (
	"os"
	"path/filepath"

	"github.com/tug-dev/tug/nodeagent/logdriver"
)

// tugd can also be the log driver containerd's shim runs for every task
// (package logdriver): that invocation never reaches main.
func init() {
	if logdriver.Invoked(os.Args) {
		logdriver.Main()
	}
}

// logDriverExe is the executable the node agent hands to the shim as the
// log driver: tug-logdriver beside tugd (about 1 MB per container), else
// tugd itself (about 5 MB: tugd's package initialisation). Empty (plain,
// unrotated logs) if tugd's own path is unknown.
func logDriverExe() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if small := filepath.Join(filepath.Dir(exe), "tug-logdriver"); isExecutable(small) {
		return small
	}
	return exe
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
