// Command planaudit lists the SQL statements of the code that SQLite
// answers by reading a whole Comune or a whole table (package
// internal/planaudit says how it finds and judges them).
//
//	go run ./cmd/planaudit -db DATA/cluster/state.db [-all] [-allow FILE] [DIR]
//
// DIR is the code to read (default "."). -all prints every statement's
// plan, and the statements the database could not plan. -allow FILE
// leaves out the statements listed there as reviewed (the repository's
// list is internal/planaudit/allowed.txt), prints the listed keys no
// statement has any more, and exits with status 1 when a statement is
// left. Use a copy of a node's database (the schema of every package,
// and with real data the plans SQLite will really choose), opened
// read-only.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"

	_ "github.com/mattn/go-sqlite3"

	"github.com/sportello-virtuale/sportello/internal/planaudit"
)

func main() {
	dbPath := flag.String("db", "", "the SQLite `database` whose schema plans the statements (a copy of a node's state.db)")
	all := flag.Bool("all", false, "print every statement's plan and every statement that could not be planned")
	allowPath := flag.String("allow", "", "leave out the reviewed statements listed in `file`, and fail if any other is listed")
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	if *dbPath == "" || flag.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: planaudit -db DATABASE [-all] [-allow FILE] [DIR]")
		os.Exit(2)
	}
	var allowed *planaudit.List
	if *allowPath != "" {
		f, err := os.Open(*allowPath)
		if err == nil {
			allowed, err = planaudit.ReadList(f)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "planaudit:", err)
			os.Exit(2)
		}
	}
	n, stale, err := run(os.Stdout, *dbPath, dir, *all, allowed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "planaudit:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "planaudit: %d statement(s) listed\n", n)
	if allowed != nil {
		for _, k := range stale {
			fmt.Fprintf(os.Stderr, "planaudit: %s is in the allow list but no statement reads it any more\n", k)
		}
		if n > 0 {
			os.Exit(1)
		}
	}
}

// run plans the statements of the code under dir on the database at
// dbPath and writes the wide ones (all of them with all) to w, except
// those allowed lists; it returns how many it wrote and what allowed
// lists that no statement needs.
func run(w io.Writer, dbPath, dir string, all bool, allowed *planaudit.List) (int, []string, error) {
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		return 0, nil, err
	}
	found, err := planaudit.Audit(db, dir)
	if err != nil {
		return 0, nil, err
	}
	listed := 0
	for _, f := range found {
		if all || (len(f.Wide) > 0 && (allowed == nil || !allowed.Allows(f))) {
			f.Write(w)
			listed++
		}
	}
	var stale []string
	if allowed != nil {
		stale = allowed.Stale(found)
	}
	return listed, stale, nil
}
