package main

import (
	"flag"
	"fmt"
	"io"
)

// cmdServe runs a node from a TOML configuration file (see
// packaging/sportello.toml). It seeds nothing: Comuni are added with
// `sportello tenant create`.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	args, faults := takeFaultInjectionFlag(args)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration `file` (required)")
	check := fs.Bool("check", false, "only check the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello serve --config FILE [--check]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "sportello: %v\n", err)
		return exitUsage
	}
	cfg.FaultInjection = faults
	if *check {
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
		return exitOK
	}
	return runNode(cfg, runOptions{stdout: stdout}, stderr)
}
