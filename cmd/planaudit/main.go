// Command planaudit lists the SQL statements of the code that SQLite
// answers by reading a whole Comune or a whole table.
//
//	go run ./cmd/planaudit -db DATA/cluster/state.db [-all] [DIR]
//
// It reads the Go files under DIR (default "."; tests, testdata and
// hidden directories left out), takes every string expression whose
// value is known at compile time and starts with SELECT, UPDATE, DELETE
// or WITH (literals, and concatenations of literals and the package's
// constants), asks the database for its plan (EXPLAIN QUERY PLAN, the
// parameters unbound) and prints, with its position, each statement whose
// plan has a step that searches by the Comune alone ("(tenant=?)") or
// scans a table. -all prints every plan, and the statements the database
// could not plan (a table it lacks, a fragment of a statement built at
// run time).
//
// SQLite without statistics (sportello runs no ANALYZE) assumes that an
// equality on the first column of a key selects a few rows, so it may walk
// a Comune's whole primary key rather than use an index on the column
// the query compares; and a partial index serves only a query that names
// its condition. Both have happened (cluster/DESIGN.md, session 16). A
// listed statement is not always wrong (a Comune's offices are few): the
// list is for a person to read. Use a copy of a node's database (the
// schema of every package, and with real data the plans SQLite will
// really choose), opened read-only.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	dbPath := flag.String("db", "", "the SQLite `database` whose schema plans the statements (a copy of a node's state.db)")
	all := flag.Bool("all", false, "print every statement's plan and every statement that could not be planned")
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	if *dbPath == "" || flag.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: planaudit -db DATABASE [-all] [DIR]")
		os.Exit(2)
	}
	n, err := run(os.Stdout, *dbPath, dir, *all)
	if err != nil {
		fmt.Fprintln(os.Stderr, "planaudit:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "planaudit: %d statement(s) listed\n", n)
}

// statement is one SQL text found in the code, at its first position.
type statement struct {
	pos string
	sql string
}

// run plans the statements of the code under dir on the database at
// dbPath and writes the listed ones to w; it returns how many it listed.
func run(w io.Writer, dbPath, dir string, all bool) (int, error) {
	stmts, err := statements(dir)
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		return 0, err
	}
	listed := 0
	for _, s := range stmts {
		steps, err := plan(db, s.sql)
		if err != nil {
			if all {
				fmt.Fprintf(w, "%s: not planned: %v\n  %s\n", s.pos, err, oneLine(s.sql))
				listed++
			}
			continue
		}
		if !all && !wide(steps) {
			continue
		}
		fmt.Fprintf(w, "%s\n  %s\n", s.pos, oneLine(s.sql))
		for _, st := range steps {
			fmt.Fprintf(w, "    %s\n", st)
		}
		listed++
	}
	return listed, nil
}

// wideStep matches a plan step that reads a whole Comune (a search by
// the tenant alone) or a whole table or index.
var wideStep = regexp.MustCompile(`\(tenant=\?\)$|^SCAN (\S+)`)

// wide reports whether a plan has a step that wideStep matches, other
// than the scan of a constant row, of a subquery's co-routine or of the
// schema (sqlite_master, pragma functions).
func wide(steps []string) bool {
	coroutines := map[string]bool{}
	for _, st := range steps {
		if name, ok := strings.CutPrefix(st, "CO-ROUTINE "); ok {
			coroutines[name] = true
		}
	}
	for _, st := range steps {
		m := wideStep.FindStringSubmatch(st)
		switch {
		case m == nil, st == "SCAN CONSTANT ROW", coroutines[m[1]],
			m[1] == "sqlite_master", m[1] == "sqlite_schema", strings.HasPrefix(m[1], "pragma_"):
			continue
		}
		return true
	}
	return false
}

// notEnoughArgs is go-sqlite3's error for a statement given fewer
// arguments than it has parameters.
var notEnoughArgs = regexp.MustCompile(`not enough args to execute query: want (\d+)`)

// plan returns the steps of the statement's EXPLAIN QUERY PLAN, its
// parameters bound to NULL.
func plan(db *sql.DB, q string) ([]string, error) {
	var args []any
	for range 2 {
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if m := notEnoughArgs.FindStringSubmatch(fmt.Sprint(err)); m != nil && args == nil {
			n, _ := strconv.Atoi(m[1])
			args = make([]any, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var steps []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return nil, err
			}
			steps = append(steps, detail)
		}
		return steps, rows.Err()
	}
	return nil, fmt.Errorf("parameters not counted")
}

// sqlStart matches the statements planaudit plans.
var sqlStart = regexp.MustCompile(`(?is)^\s*(SELECT|UPDATE|DELETE|WITH)\s`)

// statements returns the SQL texts of the Go code under dir, each once,
// in the order of their first position.
func statements(dir string) ([]statement, error) {
	pkgs := map[string][]string{} // directory → its Go files
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	seen := map[string]bool{}
	var out []statement
	for _, d := range dirs {
		found, err := packageStatements(pkgs[d])
		if err != nil {
			return nil, err
		}
		for _, s := range found {
			if !seen[s.sql] {
				seen[s.sql] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// packageStatements finds the SQL texts of one package's files.
func packageStatements(files []string) ([]statement, error) {
	fset := token.NewFileSet()
	var parsed []*ast.File
	consts := map[string]ast.Expr{}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, af)
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						consts[name.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	var out []statement
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			s, ok := constString(e, consts, 0)
			if !ok {
				return true
			}
			if sqlStart.MatchString(s) {
				p := fset.Position(e.Pos())
				out = append(out, statement{pos: fmt.Sprintf("%s:%d", p.Filename, p.Line), sql: s})
			}
			return false
		})
	}
	return out, nil
}

// constString evaluates e when it is a string known at compile time from
// literals and the package's constants (consts); depth bounds a chain of
// constants.
func constString(e ast.Expr, consts map[string]ast.Expr, depth int) (string, bool) {
	if depth > 32 {
		return "", false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		c, ok := consts[e.Name]
		if !ok {
			return "", false
		}
		return constString(c, consts, depth+1)
	case *ast.ParenExpr:
		return constString(e.X, consts, depth)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		l, ok := constString(e.X, consts, depth)
		if !ok {
			return "", false
		}
		r, ok := constString(e.Y, consts, depth)
		return l + r, ok
	}
	return "", false
}

// oneLine folds a statement's white space for printing.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
