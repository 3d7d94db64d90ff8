// Command walstat tells which tables and indexes the frames of a SQLite
// WAL belong to: what a node's commits write, B-tree by B-tree.
//
//	cp data/cluster/state.db-wal /tmp/wal; cp data/cluster/state.db /tmp/db
//	go run ./cmd/walstat /tmp/db /tmp/wal
//
// Copy the two files while the node runs (a node that stops checkpoints
// and removes its WAL); the WAL is read first, then the database. Pages
// are attributed by walking each B-tree of the database copy from its
// root (sqlite_schema's rootpage): pages written after the copy, or freed
// since, show as "(unknown page)". Only the frames of the WAL's current
// generation (its header's salts) count.
package main

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: walstat DATABASE WAL")
		os.Exit(2)
	}
	if err := run(os.Stdout, os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "walstat:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dbPath, walPath string) error {
	wal, err := os.ReadFile(walPath)
	if err != nil {
		return err
	}
	frames, err := readWAL(wal)
	if err != nil {
		return err
	}
	owners, err := pageOwners(dbPath)
	if err != nil {
		return err
	}
	report(w, summarize(frames, owners))
	return nil
}

// walFrames is what a WAL holds: how many frames each page has, in
// how many commits.
type walFrames struct {
	pageSize int
	frames   map[uint32]int
	total    int
	commits  int
}

// readWAL reads a WAL file (sqlite.org/fileformat2.html#walformat): a
// 32-byte header, then frames of a 24-byte header and a page. A frame
// whose salts differ from the header's is left over from an earlier
// generation and ends the WAL.
func readWAL(b []byte) (walFrames, error) {
	if len(b) < 32 {
		return walFrames{}, errors.New("WAL shorter than its header")
	}
	if magic := binary.BigEndian.Uint32(b); magic != 0x377f0682 && magic != 0x377f0683 {
		return walFrames{}, fmt.Errorf("not a WAL file (magic %#x)", magic)
	}
	f := walFrames{pageSize: int(binary.BigEndian.Uint32(b[8:12])), frames: map[uint32]int{}}
	if f.pageSize < 512 || f.pageSize > 65536 || f.pageSize&(f.pageSize-1) != 0 {
		return walFrames{}, fmt.Errorf("bad page size %d", f.pageSize)
	}
	salts := b[16:24]
	for off := 32; off+24+f.pageSize <= len(b); off += 24 + f.pageSize {
		h := b[off : off+24]
		if string(h[8:16]) != string(salts) {
			break
		}
		f.frames[binary.BigEndian.Uint32(h[0:4])]++
		f.total++
		if binary.BigEndian.Uint32(h[4:8]) != 0 {
			f.commits++
		}
	}
	return f, nil
}

// pageOwners maps each page of the database's B-trees to the name of its
// table or index.
func pageOwners(path string) (map[uint32]string, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0`)
	if err != nil {
		return nil, err
	}
	roots := map[string]uint32{"sqlite_schema": 1}
	for rows.Next() {
		var name string
		var root uint32
		if err := rows.Scan(&name, &root); err != nil {
			rows.Close()
			return nil, err
		}
		roots[name] = root
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(file) < 100 {
		return nil, errors.New("database shorter than its header")
	}
	pageSize := int(binary.BigEndian.Uint16(file[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	owners := map[uint32]string{}
	for name, root := range roots {
		walkBTree(file, pageSize, root, name, owners)
	}
	return owners, nil
}

// walkBTree marks root and the pages below it as name's. Interior pages
// (types 2 and 5) point to their children: a 4-byte page number at the
// start of each cell and the right-most pointer in the page header.
// Overflow pages are not followed: they show as unknown.
func walkBTree(file []byte, pageSize int, root uint32, name string, owners map[uint32]string) {
	stack := []uint32{root}
	for len(stack) > 0 {
		pg := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		start := int(pg-1) * pageSize
		if pg == 0 || start+pageSize > len(file) || owners[pg] != "" {
			continue
		}
		owners[pg] = name
		page := file[start : start+pageSize]
		hdr := 0
		if pg == 1 {
			hdr = 100 // the database header comes first on page 1
		}
		typ := page[hdr]
		if typ != 2 && typ != 5 {
			continue
		}
		cells := int(binary.BigEndian.Uint16(page[hdr+3 : hdr+5]))
		stack = append(stack, binary.BigEndian.Uint32(page[hdr+8:hdr+12]))
		for i := range cells {
			at := hdr + 12 + 2*i
			if at+2 > len(page) {
				break
			}
			cell := int(binary.BigEndian.Uint16(page[at : at+2]))
			if cell+4 <= len(page) {
				stack = append(stack, binary.BigEndian.Uint32(page[cell:cell+4]))
			}
		}
	}
}

// share is one B-tree's part of the WAL.
type share struct {
	name   string
	frames int
}

type summary struct {
	pageSize, total, commits int
	shares                   []share
}

func summarize(f walFrames, owners map[uint32]string) summary {
	by := map[string]int{}
	for pg, n := range f.frames {
		name := owners[pg]
		if name == "" {
			name = "(unknown page)"
		}
		by[name] += n
	}
	s := summary{pageSize: f.pageSize, total: f.total, commits: f.commits}
	for name, n := range by {
		s.shares = append(s.shares, share{name, n})
	}
	sort.Slice(s.shares, func(i, j int) bool {
		if s.shares[i].frames != s.shares[j].frames {
			return s.shares[i].frames > s.shares[j].frames
		}
		return s.shares[i].name < s.shares[j].name
	})
	return s
}

func report(w io.Writer, s summary) {
	perCommit := 0.0
	if s.commits > 0 {
		perCommit = float64(s.total) / float64(s.commits)
	}
	fmt.Fprintf(w, "%d frames of %d bytes in %d commits (%.1f frames per commit)\n", s.total, s.pageSize, s.commits, perCommit)
	for _, e := range s.shares {
		fmt.Fprintf(w, "%7d  %5.1f%%  %s\n", e.frames, 100*float64(e.frames)/float64(max(s.total, 1)), e.name)
	}
}
