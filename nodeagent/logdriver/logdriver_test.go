package logdriver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/url"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestFormatParse(t *testing.T) {
	tests := []struct {
		e    Entry
		line string
	}{
		{Entry{Time: t0, Stream: "stdout", Content: []byte("hello world")}, "2025-03-01T12:00:00.123456789Z stdout F hello world\n"},
		{Entry{Time: t0, Stream: "stderr", Partial: true, Content: []byte("part")}, "2025-03-01T12:00:00.123456789Z stderr P part\n"},
		{Entry{Time: t0, Stream: "stdout", Content: []byte{}}, "2025-03-01T12:00:00.123456789Z stdout F \n"},
	}
	for _, tt := range tests {
		if got := string(Format(tt.e)); got != tt.line {
			t.Errorf("Format = %q, want %q", got, tt.line)
		}
		got, err := Parse([]byte(tt.line))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.line, err)
		}
		if diff := cmp.Diff(tt.e, got, cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
	for _, bad := range []string{"", "plain output\n", "2025-03-01T12:00:00Z stdin F x\n", "2025-03-01T12:00:00Z stdout X x\n", "yesterday stdout F x\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestRunRotatesAndSplits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "3.log")
	for _, old := range []string{"1.log", "1.log.1", "2.log"} { // run 1 goes, run 2 (previous) stays
		if err := os.WriteFile(filepath.Join(dir, old), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for i := range 40 {
		lines = append(lines, strings.Repeat("a", 50)+" "+string(rune('A'+i%26)))
	}
	long := strings.Repeat("L", maxLine+10)
	stdout := strings.NewReader(strings.Join(lines, "\n") + "\n" + long + "\nno newline at the end")
	stderr := strings.NewReader("oops\n")
	clock := func() time.Time { return t0 }
	readyCalled := false
	// Each entry is about 90 bytes: 1000 bytes hold about 11 of them.
	err := Run(Settings{Path: path, MaxSize: 1000, MaxFiles: 3}, stdout, stderr, func() error { readyCalled = true; return nil }, clock)
	if err != nil || !readyCalled {
		t.Fatalf("Run: %v, ready called: %v", err, readyCalled)
	}
	files := Files(path)
	if diff := cmp.Diff([]string{path + ".2", path + ".1", path}, files); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("more than MaxFiles files kept")
	}
	var got []Entry
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(f)
		if f != path && st.Size() > 1000+maxLine+100 {
			t.Errorf("%s is %d bytes", f, st.Size())
		}
		for _, l := range strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") {
			e, err := Parse([]byte(l))
			if err != nil {
				t.Fatalf("%s: %q: %v", f, l, err)
			}
			got = append(got, e)
		}
	}
	var last Entry // of stdout: stderr is copied concurrently
	for _, e := range got {
		if e.Stream == "stdout" {
			last = e
		}
	}
	if string(last.Content) != "no newline at the end" || !last.Partial {
		t.Errorf("last entry %+v", last)
	}
	var joined strings.Builder
	for _, e := range got {
		if e.Stream == "stdout" && strings.HasPrefix(string(e.Content), "L") {
			joined.Write(e.Content)
			if !e.Partial {
				break
			}
		}
	}
	if joined.String() != long {
		t.Errorf("the long line came back as %d bytes, want %d", joined.Len(), len(long))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range left {
		if strings.HasPrefix(filepath.Base(f), "1.") {
			t.Errorf("log of an old run kept: %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "2.log")); err != nil {
		t.Errorf("the previous run's log is gone: %v", err)
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	c := Creator("/usr/bin/tugd", Settings{Path: "/var/lib/tug/pods/x/app/0.log"})
	io, err := c("id")
	if err != nil {
		t.Fatal(err)
	}
	uri := io.Config().Stdout
	if !strings.HasPrefix(uri, "binary:///usr/bin/tugd?") {
		t.Fatalf("uri %q", uri)
	}
	// The shim passes the query's key and value as the two arguments.
	q := uri[strings.IndexByte(uri, '?')+1:]
	k, v, _ := strings.Cut(q, "=")
	key, _ := unescape(k)
	val, _ := unescape(v)
	if !Invoked([]string{"tugd", key, val}) {
		t.Fatalf("not an invocation: %q %q", key, val)
	}
	s, err := parseSettings(val)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{Path: "/var/lib/tug/pods/x/app/0.log", MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
	if s != want {
		t.Errorf("settings %+v, want %+v", s, want)
	}
}

func unescape(s string) (string, error) { return url.QueryUnescape(s) }
