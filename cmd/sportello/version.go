package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=1.0.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/sportello
var (
	version = "dev"
	commit  = ""
)

// buildCommit returns the commit set by -ldflags, else the VCS revision
// the go tool stamped into the binary (absent with -buildvcs=false), with
// "+dirty" for a modified tree.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// versionString is "dev" or "dev (abc123)": what logs and the admin API show.
func versionString() string {
	if c := buildCommit(); c != "" {
		rev, dirty, _ := strings.Cut(c, "+")
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty != "" {
			rev += "+" + dirty
		}
		return version + " (" + rev + ")"
	}
	return version
}

// cmdVersion prints the version, the commit and the Go toolchain.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: sportello version") }
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	c := buildCommit()
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "sportello %s\ncommit %s\n%s %s/%s\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
