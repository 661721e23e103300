// Command probeload is the anchor of BenchmarkNodeagentCPU100Probed: the
// bare minimum a prober must do for the benchmark's load, so that tugd's CPU
// can be read beside it. For each pod IP given as an argument it runs, once
// per second, one HTTP/1.1 GET of the path on a fresh connection (reading
// only the status line) and one TCP connect/close, both to the port. Checks
// run on a 500 ms grid like tugd's prober: at each tick, the pods due (half
// of them, by index) are checked one after the other in one goroutine (the
// floor: a goroutine per check measured the same within noise, 4.1% vs 4.0%
// of a core). No logs, no state, no retries.
//
// On SIGTERM or SIGINT it prints "ok=N failed=M" (checks that got a 2xx/3xx
// status line or a connection, and the others) on stdout and exits.
//
//	probeload [-port 8080] [-path /healthz] IP...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	port := flag.String("port", "8080", "port of both checks")
	path := flag.String("path", "/healthz", "path of the HTTP check")
	flag.Parse()
	ips := flag.Args()
	if len(ips) == 0 {
		fmt.Fprintln(os.Stderr, "probeload: no pod IPs")
		os.Exit(2)
	}
	var ok, failed int
	count := func(good bool) {
		if good {
			ok++
		} else {
			failed++
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-sig:
			fmt.Printf("ok=%d failed=%d\n", ok, failed)
			return
		case <-tick.C:
		}
		for i, ip := range ips {
			if i%2 != n%2 { // each pod once per second, half of them per tick
				continue
			}
			addr := net.JoinHostPort(ip, *port)
			count(httpCheck(addr, *path))
			count(tcpCheck(addr))
		}
	}
}

// httpCheck sends one GET on a fresh connection and reads the status line.
func httpCheck(addr, path string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: probeload\r\nConnection: close\r\n\r\n", path, addr); err != nil {
		return false
	}
	line, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil {
		return false
	}
	// "HTTP/1.1 200 OK": 2xx and 3xx succeed, as for a kubelet probe.
	f := strings.Fields(line)
	return len(f) >= 2 && len(f[1]) == 3 && (f[1][0] == '2' || f[1][0] == '3')
}

// tcpCheck opens a connection and closes it.
func tcpCheck(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	return conn.Close() == nil
}
