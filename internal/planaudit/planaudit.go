// Package planaudit finds the SQL statements of the code that SQLite
// answers by reading a whole Comune or a whole table (cmd/planaudit, and
// the test of cmd/sportello that holds the code to a reviewed list).
//
// It reads the Go files under a directory (tests, testdata and hidden
// directories left out), takes every string expression whose value is
// known at compile time and starts with SELECT, UPDATE, DELETE or WITH
// (literals, and concatenations of literals and the package's
// constants), asks a database for its plan (EXPLAIN QUERY PLAN, the
// parameters bound to NULL) and reports each statement whose plan has a
// step that searches by the Comune alone ("(tenant=?)") or scans a table.
//
// SQLite without statistics (sportello runs no ANALYZE) assumes that an
// equality on the first column of a key selects a few rows, so it may walk
// a Comune's whole primary key rather than use an index on the column
// the query compares; and a partial index serves only a query that names
// its condition. Both have happened (cluster/DESIGN.md, session 16). A
// reported statement is not always wrong (a Comune's offices are few):
// the reviewed ones are listed, each with its reason, in allowed.txt.
package planaudit

import (
	"bufio"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Finding is one statement of the code and its plan.
type Finding struct {
	// Pos is the statement's first position, "file:line".
	Pos string
	// SQL is the statement's text.
	SQL string
	// Steps are the plan's steps, when the database could plan it.
	Steps []string
	// Err is why the database could not plan it (a table it lacks, a
	// fragment of a statement built at run time).
	Err error
	// Wide holds the steps that read a whole Comune or table.
	Wide []string
}

// Key names a statement in the list of reviewed ones: the start of the
// SHA-256 of its text with the white space folded, so that moving or
// re-indenting it keeps its key and changing it asks for a new review.
func (f Finding) Key() string {
	sum := sha256.Sum256([]byte(OneLine(f.SQL)))
	return hex.EncodeToString(sum[:6])
}

// Audit plans every statement of the code under dir on db, in the order
// of their first position.
func Audit(db *sql.DB, dir string) ([]Finding, error) {
	stmts, err := statements(dir)
	if err != nil {
		return nil, err
	}
	one := oneRow{db: db, unique: map[string]bool{}}
	out := make([]Finding, 0, len(stmts))
	for _, s := range stmts {
		f := Finding{Pos: s.pos, SQL: s.sql}
		f.Steps, f.Err = plan(db, s.sql)
		if f.Err == nil {
			f.Wide = wide(f.Steps, one.step)
		}
		out = append(out, f)
	}
	return out, nil
}

// oneRow tells a search by the Comune alone that finds one row: a key
// whose only column is the tenant (a table of one row per Comune).
type oneRow struct {
	db     *sql.DB
	unique map[string]bool // by table, or by index
}

// keyStep matches a search by the Comune alone and names the table (or
// its alias) and the index.
var keyStep = regexp.MustCompile(`^SEARCH (\S+) USING (?:COVERING )?(?:INDEX (\S+)|(PRIMARY KEY)) \(tenant=\?\)$`)

// step reports whether the plan step st searches a unique key of the
// tenant column alone. A table named by an alias is not resolved, and
// counts as not unique.
func (o oneRow) step(st string) bool {
	m := keyStep.FindStringSubmatch(st)
	if m == nil {
		return false
	}
	name := m[2]
	if m[3] != "" {
		name = "pk:" + m[1]
	}
	if u, ok := o.unique[name]; ok {
		return u
	}
	var u bool
	if m[3] != "" {
		// The primary key of a WITHOUT ROWID table is its index of
		// origin "pk".
		var n int
		err := o.db.QueryRow(`SELECT count(*) FROM pragma_index_list(?) l, pragma_index_info(l.name) i
			WHERE l.origin = 'pk'`, m[1]).Scan(&n)
		u = err == nil && n == 1
	} else {
		var n int
		err := o.db.QueryRow(`SELECT count(*) FROM sqlite_master s, pragma_index_list(s.tbl_name) l, pragma_index_info(l.name) i
			WHERE s.type = 'index' AND s.name = ?1 AND l.name = ?1 AND l."unique" = 1 AND l.partial = 0`, name).Scan(&n)
		u = err == nil && n == 1
	}
	o.unique[name] = u
	return u
}

// List is the reviewed list (allowed.txt): statements, by Key, and
// tables, each with the reason it may be read whole or by the Comune
// alone.
type List struct {
	Keys   map[string]string
	Tables map[string]string
}

// ReadList reads a reviewed list. Each line is a statement's Key, or
// "table" and a table's name, then white space and the reason; blank
// lines and lines starting with '#' are comments. A listed table may be
// searched by the Comune alone (a Comune's offices, services, settings:
// a few rows), by any statement that names it without an alias.
func ReadList(r io.Reader) (*List, error) {
	l := &List{Keys: map[string]string{}, Tables: map[string]string{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, reason, _ := strings.Cut(s, " ")
		reason = strings.TrimSpace(reason)
		m := l.Keys
		if key == "table" {
			key, reason, _ = strings.Cut(reason, " ")
			reason = strings.TrimSpace(reason)
			m = l.Tables
		} else if len(key) != 12 {
			return nil, fmt.Errorf("line %d: want a key of 12 hex digits or \"table NAME\", then the reason", line)
		}
		if key == "" || reason == "" {
			return nil, fmt.Errorf("line %d: want a key or a table, then the reason", line)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", line, key)
		}
		m[key] = reason
	}
	return l, sc.Err()
}

// tableStep matches a search by the Comune alone and names its table.
var tableStep = regexp.MustCompile(`^SEARCH (\S+) USING .*\(tenant=\?\)$`)

// Allows reports whether f is reviewed: its key is listed, or each of its
// wide steps searches a listed table by the Comune alone.
func (l *List) Allows(f Finding) bool {
	if _, ok := l.Keys[f.Key()]; ok {
		return true
	}
	for _, st := range f.Wide {
		m := tableStep.FindStringSubmatch(st)
		if m == nil {
			return false
		}
		if _, ok := l.Tables[m[1]]; !ok {
			return false
		}
	}
	return true
}

// Stale returns the listed keys no statement of found has, and the
// listed tables no wide step of found searches.
func (l *List) Stale(found []Finding) []string {
	used := map[string]bool{}
	for _, f := range found {
		used[f.Key()] = true
		for _, st := range f.Wide {
			if m := tableStep.FindStringSubmatch(st); m != nil {
				used["table "+m[1]] = true
			}
		}
	}
	var stale []string
	for k := range l.Keys {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	for t := range l.Tables {
		if !used["table "+t] {
			stale = append(stale, "table "+t)
		}
	}
	sort.Strings(stale)
	return stale
}

// Write prints f: its position, its text on one line, and its plan.
func (f Finding) Write(w io.Writer) {
	fmt.Fprintf(w, "%s [%s]\n  %s\n", f.Pos, f.Key(), OneLine(f.SQL))
	if f.Err != nil {
		fmt.Fprintf(w, "    not planned: %v\n", f.Err)
	}
	for _, st := range f.Steps {
		fmt.Fprintf(w, "    %s\n", st)
	}
}

// statement is one SQL text found in the code, at its first position.
type statement struct {
	pos string
	sql string
}

// wideStep matches a plan step that reads a whole Comune (a search by
// the tenant alone) or a whole table or index.
var wideStep = regexp.MustCompile(`\(tenant=\?\)$|^SCAN (\S+)`)

// wide returns the steps of a plan that wideStep matches, other
// than the scan of a constant row, of a subquery's co-routine or of the
// schema (sqlite_master, pragma functions), and than a search that oneRow
// says finds one row.
func wide(steps []string, oneRow func(step string) bool) []string {
	coroutines := map[string]bool{}
	for _, st := range steps {
		if name, ok := strings.CutPrefix(st, "CO-ROUTINE "); ok {
			coroutines[name] = true
		}
	}
	var out []string
	for _, st := range steps {
		m := wideStep.FindStringSubmatch(st)
		switch {
		case m == nil, st == "SCAN CONSTANT ROW", coroutines[m[1]],
			m[1] == "sqlite_master", m[1] == "sqlite_schema", strings.HasPrefix(m[1], "pragma_"), oneRow(st):
			continue
		}
		out = append(out, st)
	}
	return out
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

// OneLine folds a statement's white space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
