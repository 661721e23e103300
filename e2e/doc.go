// Package e2e holds tug's end-to-end tests and benchmarks. They run the real
// tugd binary inside a network namespace the test creates (no route out),
// with its own containerd child process, the Debian CNI plugins, and real Git
// repositories, and observe the cluster through the read-only API as a user
// would. They need root; with CI=true a missing prerequisite fails the run.
package e2e
