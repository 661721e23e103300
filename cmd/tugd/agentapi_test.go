package main

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestServingNames(t *testing.T) {
	got := servingNames("10.99.0.1", []string{"tug.example.com"})
	want := []string{"127.0.0.1", "localhost", "10.99.0.1", "tug.example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("servingNames (-want +got):\n%s", diff)
	}
	// An unspecified host: every local address and the host name.
	all := servingNames("0.0.0.0", nil)
	if !slices.Contains(all, "127.0.0.1") || len(all) < 3 {
		t.Errorf("servingNames(0.0.0.0) = %v, want the loopback, the host name and local addresses", all)
	}
}

func TestLocalAddrTo(t *testing.T) {
	got, err := localAddrTo("https://127.0.0.1:7444")
	if err != nil || got != "127.0.0.1" {
		t.Errorf("localAddrTo(loopback) = %q, %v; want 127.0.0.1", got, err)
	}
	if _, err := localAddrTo("https://[::1"); err == nil {
		t.Error("localAddrTo of a malformed URL: no error")
	}
}
