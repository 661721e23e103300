package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("app"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img", "app.tar")
	tests := []struct {
		name    string
		args    []string
		wantOut string // regexp; empty: expect an error
		wantErr string
	}{
		{name: "missing flags", args: []string{"-binary", bin}, wantErr: "-binary, -ref and -o are required"},
		{name: "stray argument", args: []string{"-binary", bin, "-ref", "tug.local/a:v1", "-o", out, "extra"}, wantErr: "unexpected arguments"},
		{name: "bad port", args: []string{"-binary", bin, "-ref", "tug.local/a:v1", "-o", out, "-port", "0x"}, wantErr: "invalid value"},
		{name: "written", args: []string{"-binary", bin, "-ref", "tug.local/a:v1", "-o", out, "-path", "/app"},
			wantOut: `^` + regexp.QuoteMeta(out) + ` tug.local/a:v1 sha256:[0-9a-f]{64} \(written\)\n$`},
		{name: "unchanged", args: []string{"-binary", bin, "-ref", "tug.local/a:v1", "-o", out, "-path", "/app"},
			wantOut: `\(unchanged\)\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(tt.args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v (stderr %s)", err, stderr.String())
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(stdout.String()) {
				t.Errorf("stdout = %q, want match %q", stdout.String(), tt.wantOut)
			}
		})
	}
}
