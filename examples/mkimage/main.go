// Command mkimage packs a static binary into a container image archive, with
// no Docker and no registry:
//
//	mkimage -binary _output/hello -ref tug.local/hello:v1 -o _output/images/hello-v1.tar [-port 8080] [-path /hello]
//
// The archive is in docker format (manifest.json with the tag), which
// containerd imports keeping the image name; see package pack for the image
// layout. The output is deterministic and left untouched when unchanged.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tug-dev/tug/examples/mkimage/pack"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		binary = fs.String("binary", "", "static binary to pack (required)")
		ref    = fs.String("ref", "", "image reference written into the archive, e.g. tug.local/hello:v1 (required)")
		out    = fs.String("o", "", "output archive path (required)")
		port   = fs.Int("port", 8080, "TCP port exposed and set as PORT")
		path   = fs.String("path", "/hello", "path of the binary inside the image; the entrypoint")
		arch   = fs.String("arch", "amd64", "GOARCH the binary was built for")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *binary == "" || *ref == "" || *out == "" {
		fs.Usage()
		return errors.New("-binary, -ref and -o are required")
	}
	res, err := pack.WriteArchive(*out, *ref, pack.Spec{Binary: *binary, Path: *path, Port: *port, Arch: *arch})
	if err != nil {
		return err
	}
	state := "unchanged"
	if res.Changed {
		state = "written"
	}
	fmt.Fprintf(stdout, "%s %s %s (%s)\n", *out, *ref, res.Digest, state)
	return nil
}
