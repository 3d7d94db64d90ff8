package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// segLog is the raft log and stable store as append-only segment files in
// one directory. It replaces boltLog because bolt's commit copies the leaf
// pages it touches and syncs twice (data pages, then the meta page) for
// every StoreLogs; here a StoreLogs is one write and one fdatasync.
//
// Files in dir:
//
//   - %020d.seg: segments, named by the index of their first entry when
//     created (rewrite keeps the name while dropping leading records, so the
//     names only order the segments; the records carry their own indexes).
//     A segment is records back to back: body length (uint32), CRC-32C of
//     the body (uint32), body (see appendSegRecord).
//   - meta: the stable keys and the logical first index that head
//     deletions leave (entries below it in the first segment are hidden),
//     replaced as a whole through meta.tmp and a rename.
//
// Concurrency: raft stores from its main goroutine while the replication
// goroutines and the transport read. wmu serialises the writers (StoreLogs,
// DeleteRange, Set, rewrite, Close) across their file I/O and fsyncs; mu
// guards the in-memory index, and writers take it only to publish what
// they synced, so readers never wait for a disk flush. Readers hold mu's
// read lock across their pread, so a file is never closed under them.
type segLog struct {
	dir string
	// segmentSize is the size after which the next StoreLogs starts a new
	// segment. Small segments free disk sooner after compaction; large ones
	// mean fewer files. Tests set it small.
	segmentSize int64
	// repaired says what open cut from the end of the last segment (a write
	// torn by a crash), for the caller to log; empty when nothing was cut.
	repaired string

	wmu sync.Mutex
	// buf holds one StoreLogs' records; reused from call to call.
	buf []byte
	// failed is set when the files may no longer match the index (an
	// fsync or a truncation failed): every later write returns it, since
	// appending after an unknown state could make deleted entries
	// reappear at recovery. Reopening recovers from the files.
	failed error

	mu     sync.RWMutex
	segs   []*segment
	first  uint64 // the logical first index from meta (0 when none)
	stable map[string][]byte
	closed bool
}

// segment is one segment file. Its fields change under segLog.mu (writers
// also hold wmu, and may read them without mu).
type segment struct {
	name  string
	f     *os.File
	first uint64  // index of the first record in the file
	offs  []int64 // offset of each record; the indexes are contiguous
	size  int64   // end of the last record
}

func (g *segment) last() uint64 { return g.first + uint64(len(g.offs)) - 1 }

// end returns the offset after the record at position i.
func (g *segment) end(i int) int64 {
	if i+1 < len(g.offs) {
		return g.offs[i+1]
	}
	return g.size
}

const (
	defaultSegmentSize = 64 << 20
	segHeaderLen       = 8
	// segBodyFixed is the body without data and extensions: index, term,
	// type, appendedAt, two lengths.
	segBodyFixed = 8 + 8 + 1 + 8 + 4 + 4
	segMetaName  = "meta"
	segMetaMagic = "SPSEGMT1"
	segExt       = ".seg"
	// migratedMarker begins the text that replaces raft.db once the log
	// has moved to segments.
	migratedMarker = "sportello: the raft log moved"
)

// castagnoli is only read after init.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segExt) }

// parseSegName returns the index in a segment's name, or false for any
// other file.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segExt)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// appendSegRecord appends l as a record: header (body length, CRC-32C of
// the body, little-endian) and body: index, term (uint64), type (uint8),
// AppendedAt as Unix nanoseconds (int64, 0 for the zero time), data and
// extensions each as a uint32 length and the bytes.
func appendSegRecord(dst []byte, l *raft.Log) ([]byte, error) {
	if len(l.Data) > math.MaxUint32-segBodyFixed || len(l.Extensions) > math.MaxUint32-segBodyFixed-len(l.Data) {
		return dst, fmt.Errorf("cluster: raft log: entry %d too large", l.Index)
	}
	start := len(dst)
	dst = append(dst, make([]byte, segHeaderLen)...)
	dst = binary.LittleEndian.AppendUint64(dst, l.Index)
	dst = binary.LittleEndian.AppendUint64(dst, l.Term)
	dst = append(dst, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	body := dst[start+segHeaderLen:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst, nil
}

func segRecordSize(l *raft.Log) int {
	return segHeaderLen + segBodyFixed + len(l.Data) + len(l.Extensions)
}

var errSegBadRecord = errors.New("bad record")

// decodeSegBody fills l from a record's body. Data and Extensions are
// views of body (nil when empty): the caller passes a buffer it does not
// reuse.
func decodeSegBody(body []byte, l *raft.Log) error {
	if len(body) < segBodyFixed {
		return fmt.Errorf("%w: body of %d bytes", errSegBadRecord, len(body))
	}
	le := binary.LittleEndian
	idx, term, typ := le.Uint64(body), le.Uint64(body[8:]), body[16]
	at := int64(le.Uint64(body[17:]))
	rest := body[25:]
	dataLen := uint64(le.Uint32(rest))
	rest = rest[4:]
	// At least the extensions' length must follow the data.
	if dataLen+4 > uint64(len(rest)) {
		return fmt.Errorf("%w: data length %d past the body", errSegBadRecord, dataLen)
	}
	data := rest[:dataLen:dataLen]
	rest = rest[dataLen:]
	extLen := uint64(le.Uint32(rest))
	rest = rest[4:]
	if extLen != uint64(len(rest)) {
		return fmt.Errorf("%w: extensions length %d, %d bytes left", errSegBadRecord, extLen, len(rest))
	}
	*l = raft.Log{Index: idx, Term: term, Type: raft.LogType(typ)}
	if len(data) > 0 {
		l.Data = data
	}
	if len(rest) > 0 {
		l.Extensions = rest[:len(rest):len(rest)]
	}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// checkSegRecord checks a whole record's header against its body and
// returns the body.
func checkSegRecord(rec []byte) ([]byte, error) {
	if len(rec) < segHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", errSegBadRecord, len(rec))
	}
	body := rec[segHeaderLen:]
	if n := binary.LittleEndian.Uint32(rec); int64(n) != int64(len(body)) {
		return nil, fmt.Errorf("%w: length %d, want %d", errSegBadRecord, n, len(body))
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(rec[4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errSegBadRecord)
	}
	return body, nil
}

// openSegLog opens the segment log in dir, creating it if needed, and
// recovers it: see recover.
func openSegLog(dir string) (*segLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: raft log: %w", err)
	}
	s := &segLog{dir: dir, segmentSize: defaultSegmentSize, stable: map[string][]byte{}}
	if err := s.recover(); err != nil {
		for _, g := range s.segs {
			g.f.Close()
		}
		return nil, fmt.Errorf("cluster: raft log %s: %w", dir, err)
	}
	return s, nil
}

// recover reads meta and every segment. A record that is short or fails
// its checks at the end of the last segment is a write that a crash tore
// (its StoreLogs never returned): it is cut off and noted in repaired. Any
// other bad record, or indexes that do not follow each other, is
// corruption and an error: skipping it would lose committed entries
// silently. Segments wholly below meta's first index (a head deletion
// interrupted by a crash) are removed, as are temporary files.
func (s *segLog) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return err
			}
			continue
		}
		if _, ok := parseSegName(name); ok {
			names = append(names, name)
		}
	}
	// Fixed-width names: the text order is the numeric order.
	sort.Strings(names)

	meta, err := os.ReadFile(filepath.Join(s.dir, segMetaName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(names) > 0 {
			return errors.New("segments without a meta file")
		}
		if err := writeSegMeta(s.dir, 0, s.stable); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if s.first, s.stable, err = parseSegMeta(meta); err != nil {
			return err
		}
	}

	var buf []byte
	for i, name := range names {
		nameIdx, _ := parseSegName(name)
		f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		g := &segment{name: name, f: f}
		s.segs = append(s.segs, g)
		var expect uint64
		if i > 0 {
			prev := s.segs[i-1]
			if len(prev.offs) == 0 {
				return fmt.Errorf("segment %s is empty but not the last", prev.name)
			}
			expect = prev.last() + 1
		}
		isLast := i == len(names)-1
		var bad error
		if buf, bad, err = scanSegment(g, expect, buf); err != nil {
			return err
		}
		if len(g.offs) > 0 && g.first < nameIdx {
			return fmt.Errorf("segment %s starts at entry %d, below its name", name, g.first)
		}
		if bad == nil {
			continue
		}
		if !isLast {
			return fmt.Errorf("segment %s at offset %d: %w", name, g.size, bad)
		}
		if err := s.cutTornTail(g, bad); err != nil {
			return err
		}
	}

	removed := false
	// An empty last segment: created just before a crash, or emptied by
	// the cut.
	if n := len(s.segs); n > 0 && len(s.segs[n-1].offs) == 0 {
		g := s.segs[n-1]
		g.f.Close()
		if err := os.Remove(filepath.Join(s.dir, g.name)); err != nil {
			return err
		}
		s.segs = s.segs[:n-1]
		removed = true
	}
	for len(s.segs) > 0 && s.segs[0].last() < s.first {
		g := s.segs[0]
		g.f.Close()
		if err := os.Remove(filepath.Join(s.dir, g.name)); err != nil {
			return err
		}
		s.segs = s.segs[1:]
		removed = true
	}
	if removed {
		return syncDir(s.dir)
	}
	return nil
}

// cutTornTail handles a bad record at g.size in the last segment. If a
// good record with the next index follows it, the bad one is not a torn
// end but damage in the middle: an error. Otherwise the file is cut at it.
func (s *segLog) cutTornTail(g *segment, bad error) error {
	st, err := g.f.Stat()
	if err != nil {
		return err
	}
	var hdr [segHeaderLen]byte
	if _, err := g.f.ReadAt(hdr[:], g.size); err == nil {
		next := g.size + segHeaderLen + int64(binary.LittleEndian.Uint32(hdr[:]))
		// The index the record after the bad one would have (0: any, when
		// the first segment has no good record to count from).
		var expect uint64
		if len(g.offs) > 0 || g.first != 0 {
			expect = g.first + uint64(len(g.offs)) + 1
		}
		if next < st.Size() && validSegRecordAt(g.f, next, st.Size(), expect) {
			return fmt.Errorf("segment %s at offset %d: %w, and good records follow it", g.name, g.size, bad)
		}
	}
	if err := g.f.Truncate(g.size); err != nil {
		return err
	}
	if err := fdatasync(g.f); err != nil {
		return err
	}
	s.repaired = fmt.Sprintf("cut %d bytes from the end of %s at offset %d (%v): a write torn by a crash", st.Size()-g.size, g.name, g.size, bad)
	return nil
}

// validSegRecordAt reports whether a good record starts at off, with index
// expect (any index when expect is 0).
func validSegRecordAt(f *os.File, off, size int64, expect uint64) bool {
	var hdr [segHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	if off+segHeaderLen+n > size {
		return false
	}
	rec := make([]byte, segHeaderLen+n)
	if _, err := f.ReadAt(rec, off); err != nil {
		return false
	}
	body, err := checkSegRecord(rec)
	if err != nil {
		return false
	}
	var l raft.Log
	return decodeSegBody(body, &l) == nil && (expect == 0 || l.Index == expect)
}

// scanSegment reads g's records from the start, filling first, offs and
// size (the end of the last good record). expect is the index the first
// record must have (0: any). bad is why the record at size is not good,
// nil when the file ends after the last one; err is an I/O error.
func scanSegment(g *segment, expect uint64, buf []byte) (_ []byte, bad, err error) {
	st, err := g.f.Stat()
	if err != nil {
		return buf, nil, err
	}
	size := st.Size()
	g.first = expect
	r := bufio.NewReaderSize(io.NewSectionReader(g.f, 0, size), 1<<20)
	var off int64
	var hdr [segHeaderLen]byte
	for off < size {
		g.size = off
		if size-off < segHeaderLen {
			return buf, fmt.Errorf("%w: %d bytes of a header", errSegBadRecord, size-off), nil
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return buf, nil, err
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:]))
		if off+segHeaderLen+n > size {
			return buf, fmt.Errorf("%w: length %d past the end of the file", errSegBadRecord, n), nil
		}
		buf = slices.Grow(buf[:0], segHeaderLen+int(n))[:segHeaderLen+int(n)]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(r, buf[segHeaderLen:]); err != nil {
			return buf, nil, err
		}
		body, cerr := checkSegRecord(buf)
		var l raft.Log
		if cerr == nil {
			cerr = decodeSegBody(body, &l)
		}
		if cerr != nil {
			return buf, cerr, nil
		}
		switch {
		case len(g.offs) == 0 && expect == 0:
			g.first = l.Index
		case l.Index != g.first+uint64(len(g.offs)):
			return buf, fmt.Errorf("%w: entry %d where %d was due", errSegBadRecord, l.Index, g.first+uint64(len(g.offs))), nil
		}
		g.offs = append(g.offs, off)
		off += segHeaderLen + n
	}
	g.size = off
	return buf, nil, nil
}

// writeSegMeta replaces dir's meta file: magic, CRC-32C of the rest, the
// first index, the number of keys, then each key and value with uint32
// lengths (keys sorted, so equal contents give equal files).
func writeSegMeta(dir string, first uint64, stable map[string][]byte) error {
	body := binary.LittleEndian.AppendUint64(nil, first)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(stable)))
	keys := make([]string, 0, len(stable))
	for k := range stable {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		body = binary.LittleEndian.AppendUint32(body, uint32(len(k)))
		body = append(body, k...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(stable[k])))
		body = append(body, stable[k]...)
	}
	out := append([]byte(segMetaMagic), make([]byte, 4)...)
	binary.LittleEndian.PutUint32(out[len(segMetaMagic):], crc32.Checksum(body, castagnoli))
	out = append(out, body...)
	return replaceFile(filepath.Join(dir, segMetaName), out)
}

// replaceFile writes data to path durably: a synced temporary file renamed
// over path, then the directory synced. A crash leaves the old file or the
// new one, never a mix.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func parseSegMeta(b []byte) (uint64, map[string][]byte, error) {
	bad := func(why string) (uint64, map[string][]byte, error) {
		return 0, nil, fmt.Errorf("corrupt meta file: %s", why)
	}
	if len(b) < len(segMetaMagic)+4+12 || string(b[:len(segMetaMagic)]) != segMetaMagic {
		return bad("no header")
	}
	sum := binary.LittleEndian.Uint32(b[len(segMetaMagic):])
	body := b[len(segMetaMagic)+4:]
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	first := binary.LittleEndian.Uint64(body)
	n := binary.LittleEndian.Uint32(body[8:])
	rest := body[12:]
	field := func() ([]byte, bool) {
		if len(rest) < 4 {
			return nil, false
		}
		l := uint64(binary.LittleEndian.Uint32(rest))
		if l > uint64(len(rest)-4) {
			return nil, false
		}
		v := rest[4 : 4+l]
		rest = rest[4+l:]
		return v, true
	}
	stable := map[string][]byte{}
	for range n {
		k, ok := field()
		if !ok {
			return bad("truncated key")
		}
		v, ok := field()
		if !ok {
			return bad("truncated value")
		}
		stable[string(k)] = slices.Clone(v)
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return first, stable, nil
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// bounds returns the first and last visible index (0, 0 when empty).
// Callers hold mu or wmu.
func (s *segLog) bounds() (first, last uint64) {
	if len(s.segs) == 0 {
		return 0, 0
	}
	return max(s.first, s.segs[0].first), s.segs[len(s.segs)-1].last()
}

func (s *segLog) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	first, _ := s.bounds()
	return first, nil
}

func (s *segLog) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	_, last := s.bounds()
	return last, nil
}

// locate returns the segment holding idx and its position there. Callers
// hold mu or wmu.
func (s *segLog) locate(idx uint64) (*segment, int, bool) {
	first, last := s.bounds()
	if len(s.segs) == 0 || idx < first || idx > last {
		return nil, 0, false
	}
	// The last segment whose first index is at most idx.
	k := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > idx }) - 1
	g := s.segs[k]
	return g, int(idx - g.first), true
}

func (s *segLog) GetLog(idx uint64, log *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	g, i, ok := s.locate(idx)
	if !ok {
		return raft.ErrLogNotFound
	}
	off := g.offs[i]
	// A fresh buffer: the entry's Data is a view of it.
	rec := make([]byte, g.end(i)-off)
	if _, err := g.f.ReadAt(rec, off); err != nil {
		return fmt.Errorf("cluster: raft log: read entry %d: %w", idx, err)
	}
	body, err := checkSegRecord(rec)
	if err == nil {
		err = decodeSegBody(body, log)
	}
	if err == nil && log.Index != idx {
		err = fmt.Errorf("%w: holds entry %d", errSegBadRecord, log.Index)
	}
	if err != nil {
		return fmt.Errorf("cluster: raft log: entry %d in %s: %w", idx, g.name, err)
	}
	return nil
}

// writable returns why the log cannot be written, if it cannot. Callers
// hold wmu.
func (s *segLog) writable() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

func (s *segLog) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return fmt.Errorf("cluster: raft log: entries %d and %d are not consecutive", logs[i-1].Index, logs[i].Index)
		}
	}
	start := logs[0].Index
	if len(s.segs) > 0 {
		if _, last := s.bounds(); start != last+1 {
			return fmt.Errorf("cluster: raft log: entry %d stored after entry %d", start, last)
		}
	} else if start < s.first {
		// A log emptied by DeleteRange may restart lower (after a
		// snapshot install): meta's first index must not hide it.
		if err := writeSegMeta(s.dir, start, s.stable); err != nil {
			return fmt.Errorf("cluster: raft log: %w", err)
		}
		s.mu.Lock()
		s.first = start
		s.mu.Unlock()
	}

	size := 0
	for _, l := range logs {
		size += segRecordSize(l)
	}
	buf := slices.Grow(s.buf[:0], size)
	rel := make([]int64, len(logs))
	for i, l := range logs {
		rel[i] = int64(len(buf))
		var err error
		if buf, err = appendSegRecord(buf, l); err != nil {
			return err
		}
	}
	if cap(buf) <= maxKeptScratch {
		s.buf = buf[:0]
	} else {
		s.buf = nil
	}

	g, fresh := (*segment)(nil), false
	if n := len(s.segs); n > 0 && s.segs[n-1].size < s.segmentSize {
		g = s.segs[n-1]
	} else {
		var err error
		if g, err = s.createSegment(start); err != nil {
			return err
		}
		fresh = true
	}
	if _, err := g.f.WriteAt(buf, g.size); err != nil {
		// Nothing was published; what was written past size is
		// overwritten by the next StoreLogs, or cut here.
		if fresh {
			g.f.Close()
			os.Remove(filepath.Join(s.dir, g.name))
		} else if terr := g.f.Truncate(g.size); terr != nil {
			s.failed = fmt.Errorf("cluster: raft log: a failed write could not be undone: %w", terr)
		}
		return fmt.Errorf("cluster: raft log: write: %w", err)
	}
	if err := fdatasync(g.f); err != nil {
		// After a failed fsync the kernel may have dropped the dirty
		// pages: the file's contents are unknown.
		s.failed = fmt.Errorf("cluster: raft log: fsync failed earlier: %w", err)
		return fmt.Errorf("cluster: raft log: fsync: %w", err)
	}
	s.mu.Lock()
	for _, r := range rel {
		g.offs = append(g.offs, g.size+r)
	}
	g.size += int64(len(buf))
	if fresh {
		g.first = start
		s.segs = append(s.segs, g)
	}
	s.mu.Unlock()
	return nil
}

// createSegment creates the file of a segment starting at first and syncs
// the directory, so the file survives a crash once its data is synced.
func (s *segLog) createSegment(first uint64) (*segment, error) {
	name := segName(first)
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cluster: raft log: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(filepath.Join(s.dir, name))
		return nil, fmt.Errorf("cluster: raft log: %w", err)
	}
	return &segment{name: name, f: f, first: first}, nil
}

// DeleteRange deletes the entries from min to max, both included. Raft
// deletes either a head (compaction after a snapshot: min at or below the
// first index) or a tail (a suffix that conflicts with the leader's: max at
// or above the last index), or everything; a range strictly inside the log
// is refused.
func (s *segLog) DeleteRange(min, max uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	first, last := s.bounds()
	if min > max || len(s.segs) == 0 || max < first || min > last {
		return nil
	}
	switch {
	case min <= first:
		return s.deleteHead(max)
	case max >= last:
		return s.deleteTail(min)
	default:
		return fmt.Errorf("cluster: raft log: cannot delete entries %d to %d from the middle of %d to %d", min, max, first, last)
	}
}

// deleteHead deletes the entries up to max. The new first index is in
// meta before any file goes, so a crash in between leaves files that
// recovery removes or hides. The bytes of hidden entries stay in the first
// segment until rewrite.
func (s *segLog) deleteHead(max uint64) error {
	newFirst := max + 1
	if max == math.MaxUint64 {
		newFirst = max
	}
	if err := writeSegMeta(s.dir, newFirst, s.stable); err != nil {
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	s.mu.Lock()
	s.first = newFirst
	k := 0
	for k < len(s.segs) && s.segs[k].last() < newFirst {
		k++
	}
	gone := slices.Clone(s.segs[:k])
	s.segs = slices.Delete(s.segs, 0, k)
	s.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	var err error
	for _, g := range gone {
		g.f.Close()
		err = errors.Join(err, os.Remove(filepath.Join(s.dir, g.name)))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		// Left files lie below meta's first index, which recovery
		// removes; a new segment could sort after them before that.
		s.failed = fmt.Errorf("cluster: raft log: removing compacted segments failed earlier: %w", err)
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	return nil
}

// deleteTail deletes the entries from min, which is above the first
// index, to the end. The files go from the last backwards, so a crash
// midway leaves a shorter log, never one with a gap.
func (s *segLog) deleteTail(min uint64) error {
	g, i, _ := s.locate(min)
	k := slices.Index(s.segs, g)
	s.mu.Lock()
	gone := slices.Clone(s.segs[k+1:])
	cut := g.offs[i]
	whole := i == 0
	if whole {
		gone = append(gone, g)
		s.segs = s.segs[:k]
	} else {
		s.segs = s.segs[:k+1]
		g.offs = g.offs[:i]
		g.size = cut
	}
	s.mu.Unlock()
	var err error
	for j := len(gone) - 1; j >= 0 && err == nil; j-- {
		gone[j].f.Close()
		err = os.Remove(filepath.Join(s.dir, gone[j].name))
	}
	if err == nil && !whole {
		if err = g.f.Truncate(cut); err == nil {
			err = fdatasync(g.f)
		}
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		// The deleted entries may still be in the files, where recovery
		// would find them again after the entries stored next.
		s.failed = fmt.Errorf("cluster: raft log: deleting entries from %d failed earlier: %w", min, err)
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	return nil
}

// rewrite removes the bytes of the entries that a head deletion hid in
// the first segment: the live records are copied to a new file, synced,
// and renamed over the segment, which keeps its name. A crash before the
// rename leaves the old file and a .tmp that open removes.
func (s *segLog) rewrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if len(s.segs) == 0 || s.first <= s.segs[0].first {
		return nil
	}
	g := s.segs[0]
	hidden := int(s.first - g.first)
	from := g.offs[hidden]
	path := filepath.Join(s.dir, g.name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cluster: rewrite raft log: %w", err)
	}
	_, err = io.Copy(f, io.NewSectionReader(g.f, from, g.size-from))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cluster: rewrite raft log: %w", err)
	}
	// The rename is done: from here the file at path is the new one, in
	// memory too, even if the directory sync fails.
	s.mu.Lock()
	old := g.f
	g.f = f
	g.first = s.first
	offs := make([]int64, len(g.offs)-hidden)
	for j := range offs {
		offs[j] = g.offs[hidden+j] - from
	}
	g.offs = offs
	g.size -= from
	s.mu.Unlock()
	old.Close()
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("cluster: rewrite raft log: %w", err)
	}
	return nil
}

func (s *segLog) Set(k, v []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	stable := make(map[string][]byte, len(s.stable)+1)
	for key, val := range s.stable {
		stable[key] = val
	}
	stable[string(k)] = slices.Clone(v)
	if err := writeSegMeta(s.dir, s.first, stable); err != nil {
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	s.mu.Lock()
	s.stable = stable
	s.mu.Unlock()
	return nil
}

// Get returns the value of k, or errKeyNotFound itself: raft compares the
// error's text with "not found", so it is not wrapped.
func (s *segLog) Get(k []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, ok := s.stable[string(k)]
	if !ok {
		return nil, errKeyNotFound
	}
	return slices.Clone(v), nil
}

// SetUint64 stores v as boltLog does (8 bytes, big-endian).
func (s *segLog) SetUint64(k []byte, v uint64) error {
	return s.Set(k, boltKey(v))
}

func (s *segLog) GetUint64(k []byte) (uint64, error) {
	return stableUint64(s.Get(k))
}

// Sync flushes the last segment. Every write is synced before it returns,
// so this only matters for callers that expect it, like the migration.
func (s *segLog) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if n := len(s.segs); n > 0 {
		return fdatasync(s.segs[n-1].f)
	}
	return nil
}

// Close closes the files. Later calls return ErrClosed; a second Close
// returns nil.
func (s *segLog) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	for _, g := range s.segs {
		err = errors.Join(err, g.f.Close())
	}
	s.segs = nil
	return err
}

// migrateBoltLog moves the raft log from the bolt file at boltPath to a
// segment log in dir, once. The copy is built in dir.tmp and renamed into
// place, then boltPath is replaced by a note saying where the log went: a
// bbolt open of that note fails ("invalid database"), so an older binary
// started on this data dir stops instead of starting with an empty log.
// Each step can be redone after a crash: a dir.tmp is rebuilt, a bolt file
// beside a complete dir is replaced by the note.
//
// migrated reports whether this call copied entries out of a bolt file.
func migrateBoltLog(boltPath, dir string) (migrated bool, err error) {
	dirExists, err := pathExists(dir)
	if err != nil {
		return false, err
	}
	head, err := readFileHead(boltPath, len(migratedMarker))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A new node, or one already migrated whose note was removed:
		// the note goes in, so that an older binary refuses this data
		// dir too, rather than creating a raft.db of its own and
		// bootstrapping a cluster of one beside the real one. The folder
		// comes first: a note without it means a lost log.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("cluster: raft log: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return false, fmt.Errorf("cluster: raft log: %w", err)
		}
		return false, writeMigratedMarker(boltPath, dir)
	case err != nil:
		return false, fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	if string(head) == migratedMarker {
		if !dirExists {
			return false, fmt.Errorf("cluster: %s says the raft log moved to %s, which is missing", boltPath, dir)
		}
		return false, nil
	}
	if dirExists {
		// The copy completed before a crash: check that this is the
		// bolt file it came from before replacing it.
		db, err := bbolt.Open(boltPath, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return false, fmt.Errorf("cluster: migrate raft log: %s beside %s: %w", boltPath, dir, err)
		}
		db.Close()
		return false, writeMigratedMarker(boltPath, dir)
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return false, fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	if err := copyBoltLog(boltPath, tmp); err != nil {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return false, fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return false, fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	return true, writeMigratedMarker(boltPath, dir)
}

// migrateChunk is how many entries the migration moves per StoreLogs: a
// few MB at most of shared entries, few fsyncs.
const migrateChunk = 256

func copyBoltLog(boltPath, dir string) (err error) {
	src, err := openBoltLog(boltPath)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openSegLog(dir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}()
	first, err := src.FirstIndex()
	if err != nil {
		return err
	}
	last, err := src.LastIndex()
	if err != nil {
		return err
	}
	// bbolt took a gap: raft, seeing a store that is not monotonic, left
	// the entries it kept before installing a snapshot and stored the
	// next ones after the snapshot's index. The segments take no gap, and
	// the entries before the last one are below a snapshot, which raft
	// would compact anyway: only the run after the last gap moves.
	if first, err = lastRunStart(src, first, last); err != nil {
		return err
	}
	for from := first; last > 0 && from <= last; from += migrateChunk {
		to := min(last, from+migrateChunk-1)
		logs := make([]*raft.Log, 0, to-from+1)
		for i := from; i <= to; i++ {
			l := new(raft.Log)
			if err := src.GetLog(i, l); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			logs = append(logs, l)
		}
		if err := dst.StoreLogs(logs); err != nil {
			return err
		}
	}
	for _, k := range stableKeys {
		v, err := src.Get([]byte(k))
		switch {
		case errors.Is(err, errKeyNotFound):
			continue
		case err != nil:
			return fmt.Errorf("key %s: %w", k, err)
		}
		if err := dst.Set([]byte(k), v); err != nil {
			return err
		}
	}
	return dst.Sync()
}

// lastRunStart returns the first index of the last gap-free run of
// entries of src between first and last.
func lastRunStart(src *boltLog, first, last uint64) (uint64, error) {
	for i := last; i > first; i-- {
		var l raft.Log
		err := src.GetLog(i-1, &l)
		switch {
		case errors.Is(err, raft.ErrLogNotFound):
			return i, nil
		case err != nil:
			return 0, fmt.Errorf("entry %d: %w", i-1, err)
		}
	}
	return first, nil
}

func writeMigratedMarker(boltPath, dir string) error {
	note := fmt.Sprintf("%s to %s/ (segment files), or started there.\n"+
		"Do not start an older sportello on this data directory: it would not find its raft log.\n",
		migratedMarker, filepath.Base(dir))
	if err := replaceFile(boltPath, []byte(note)); err != nil {
		return fmt.Errorf("cluster: migrate raft log: %w", err)
	}
	return nil
}

func pathExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// readFileHead returns up to n bytes from the start of the file at path.
func readFileHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}
