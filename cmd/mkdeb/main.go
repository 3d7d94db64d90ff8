// Command mkdeb builds the Debian packages of Sportello,
// sportello_<version>_<arch>.deb, with nfpm's deb packager as a library.
//
//	go run ./cmd/mkdeb -version 1.2.0                    # this machine's architecture, into dist/
//	go run ./cmd/mkdeb -version 1.2.0 -arch amd64,arm64  # both
//	go run ./cmd/mkdeb -version 1.2.0 -arch arm64 -binary ./sportello-arm64
//
// Without -binary it compiles cmd/sportello for each architecture with
// -trimpath and the version stamped in (main.version, main.commit). The
// binary needs cgo (SQLite), so another architecture needs a C cross
// compiler: aarch64-linux-gnu-gcc (Debian package gcc-aarch64-linux-gnu)
// for arm64 on an amd64 machine, x86_64-linux-gnu-gcc
// (gcc-x86-64-linux-gnu) the other way round; CC overrides the choice.
//
// It runs from the repository root (or -root): the package takes the
// systemd unit and maintainer scripts from packaging/, the conffile
// /etc/sportello/sportello.toml from packaging/sportello.toml and the
// operators' documentation from docs/.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the flags, builds every requested package and returns the
// exit code: 0 built, 1 failed, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var arches string
	fs.StringVar(&o.version, "version", "", "package `version`, such as 1.2.0 or 1.3.0-rc.1 (a leading v is dropped); required")
	fs.StringVar(&arches, "arch", runtime.GOARCH, "comma-separated Debian `architectures` to build: amd64, arm64")
	fs.StringVar(&o.out, "out", "dist", "`folder` the .deb files are written to")
	fs.StringVar(&o.binary, "binary", "", "prebuilt sportello `binary` to package instead of compiling one (one -arch only)")
	fs.StringVar(&o.root, "root", ".", "repository root `folder` (holds packaging/, docs/ and cmd/sportello)")
	fs.StringVar(&o.maintainer, "maintainer", defaultMaintainer, "Maintainer field: `Name <email>`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkdeb -version VERSION [-arch amd64,arm64] [-out DIR] [-binary FILE] [-root DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	for _, a := range strings.Split(arches, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.arches = append(o.arches, a)
		}
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 2
	}
	for _, arch := range o.arches {
		path, err := buildPackage(o, arch, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mkdeb: %s: %v\n", arch, err)
			return 1
		}
		fmt.Fprintln(stdout, path)
	}
	return 0
}
