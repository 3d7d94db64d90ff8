// Command sportello runs a Sportello node and talks to a running one.
//
//	sportello demo [--data DIR] [--listen ADDR] ...   one-node demo with the Comune di Bari
//	sportello serve --config FILE                      a node from a TOML configuration
//	sportello tenant create|list|show ...              manage Comuni through the admin socket
//	sportello admin create|confirm|list|disable|...    break-glass administrators (admin_user.go)
//	sportello backup FILE / restore --data DIR FILE    back up a running node, seed a new cluster
//	sportello cluster init|join|token|status|leave|remove   multi-node clusters (cluster_cmd.go)
//	sportello version                                  version and commit
//
// main only dispatches: each subcommand lives in its own file (demo.go,
// serve.go, tenant.go, backup.go, restore.go, version.go) and the wiring
// of a node in run.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes of every subcommand.
const (
	exitOK          = 0
	exitFailure     = 1 // the command failed (node error, invalid data)
	exitUsage       = 2 // bad flags or configuration
	exitUnavailable = 3 // no node answers on the admin socket
	exitNotFound    = 4 // the named Comune does not exist
	exitConflict    = 5 // the Comune (or one of its domains) already exists
)

func main() {
	tuneGCMemory() // gc_tune.go
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0] and returns its exit code.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "tenant":
		return cmdTenant(args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(args[1:], stdout, stderr)
	case "cluster":
		return cmdCluster(args[1:], stdout, stderr)
	case "restore":
		return cmdRestore(args[1:], stdout, stderr)
	case "tls":
		return cmdTLS(args[1:], stdout, stderr)
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return cmdVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "sportello: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Sportello: the virtual public counter of Italian Comuni.

Usage:
  sportello demo [flags]              start a one-node demo with the Comune di Bari
  sportello serve --config FILE       start a node from a TOML configuration
  sportello init [flags]              write a new node's configuration (asks, or flags)
  sportello check-config FILE         check a configuration, listing every problem
  sportello tenant create [flags]     add a Comune to the running node
  sportello tenant list [--data DIR]  list the Comuni
  sportello tenant show ID            show one Comune
  sportello admin create|confirm|list|disable|enable|reset-totp
                                      break-glass appliance administrators
  sportello backup [--data DIR] FILE  write a backup of the running node to FILE
  sportello cluster init|join|token|status|leave|remove   multi-node clusters
  sportello restore --data DIR FILE   seed a new cluster in DIR from a backup
  sportello tls export-root           print the internal CA's root certificate
  sportello version                   print version and commit

Run "sportello COMMAND -h" for the flags of a command.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error,
3 node not reachable, 4 not found, 5 already exists (also: backup FILE
exists, restore into a data dir that is not empty or in use).
`)
}

// exitCodeOf maps a flag parsing error to an exit code: -h is not an error.
func exitCodeOf(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return fmt.Sprint([]string(*l)) }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("tenant show bari --data d"), which flag.Parse
// alone stops at. It returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
