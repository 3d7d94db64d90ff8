// A SQLite VFS that writes the FSM's WAL frames in one system call per
// commit instead of two per page (walvfs.go explains why).
//
// It wraps the default VFS ("unix"). Every file but the WAL is opened by the
// default VFS as is: the database file, its locks and its shared memory are
// the same objects as those of every other connection of the process. A WAL
// file gets the methods below, which keep in memory a run of frames being
// appended and write it as one pwrite when the commit frame is complete.
//
// Only frames appended at the end of the WAL are kept: a header written
// where the next frame goes (learnt from the WAL header, at offset 0, and
// from each frame written whole), then its page. Everything else SQLite
// writes to the WAL goes through at once, after the run: the WAL header, a
// page of the transaction written again in place, and the frame headers
// whose checksums SQLite writes again after the commit frame when the
// transaction wrote a page twice (walRewriteChecksums); those come after
// the commit frame and before SQLite publishes the commit, so they must not
// wait in memory. The first version kept those too, and
// TestWALVFSFramesRecover caught it: a copy of the files lost the last
// commit.
//
// The declarations of SQLite's VFS interface are written here, after its
// documented layout (https://sqlite.org/c3ref/vfs.html, io_methods.html,
// file.html), which SQLite keeps stable across releases; the functions are
// those of the SQLite that github.com/mattn/go-sqlite3 links in.

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef long long spw_int64;
typedef struct spw_vfs spw_vfs;
typedef struct spw_file spw_file;
typedef struct spw_io_methods spw_io_methods;
typedef void (*spw_syscall_ptr)(void);

struct spw_file {
	const spw_io_methods *pMethods;
};

struct spw_io_methods {
	int iVersion;
	int (*xClose)(spw_file *);
	int (*xRead)(spw_file *, void *, int, spw_int64);
	int (*xWrite)(spw_file *, const void *, int, spw_int64);
	int (*xTruncate)(spw_file *, spw_int64);
	int (*xSync)(spw_file *, int);
	int (*xFileSize)(spw_file *, spw_int64 *);
	int (*xLock)(spw_file *, int);
	int (*xUnlock)(spw_file *, int);
	int (*xCheckReservedLock)(spw_file *, int *);
	int (*xFileControl)(spw_file *, int, void *);
	int (*xSectorSize)(spw_file *);
	int (*xDeviceCharacteristics)(spw_file *);
	int (*xShmMap)(spw_file *, int, int, int, void volatile **);
	int (*xShmLock)(spw_file *, int, int, int);
	void (*xShmBarrier)(spw_file *);
	int (*xShmUnmap)(spw_file *, int);
	int (*xFetch)(spw_file *, spw_int64, int, void **);
	int (*xUnfetch)(spw_file *, spw_int64, void *);
};

struct spw_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	spw_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(spw_vfs *, const char *, spw_file *, int, int *);
	int (*xDelete)(spw_vfs *, const char *, int);
	int (*xAccess)(spw_vfs *, const char *, int, int *);
	int (*xFullPathname)(spw_vfs *, const char *, int, char *);
	void *(*xDlOpen)(spw_vfs *, const char *);
	void (*xDlError)(spw_vfs *, int, char *);
	void (*(*xDlSym)(spw_vfs *, void *, const char *))(void);
	void (*xDlClose)(spw_vfs *, void *);
	int (*xRandomness)(spw_vfs *, int, char *);
	int (*xSleep)(spw_vfs *, int);
	int (*xCurrentTime)(spw_vfs *, double *);
	int (*xGetLastError)(spw_vfs *, int, char *);
	int (*xCurrentTimeInt64)(spw_vfs *, spw_int64 *);
	int (*xSetSystemCall)(spw_vfs *, const char *, spw_syscall_ptr);
	spw_syscall_ptr (*xGetSystemCall)(spw_vfs *, const char *);
	const char *(*xNextSystemCall)(spw_vfs *, const char *);
};

// The SQLite functions used, as SQLite declares them.
extern spw_vfs *sqlite3_vfs_find(const char *);
extern int sqlite3_vfs_register(spw_vfs *, int);

#define SPW_OK 0
#define SPW_ERROR 1
#define SPW_NOMEM 7
#define SPW_OPEN_WAL 0x00080000

// A WAL frame header is 24 bytes; bytes 4 to 7 hold, for the frame that
// commits a transaction, the database's size in pages after it, and zero
// for every other frame.
#define SPW_FRAME_HEADER 24
#define SPW_WAL_HEADER 32

// The default VFS writes at most 128 KiB - 1 bytes in one call (unixWrite,
// seekAndWriteFd): the run is written before it would pass that size, at
// the end of a frame, even before the commit frame, and never in larger
// pieces.
#define SPW_MAX_WRITE 0x1ffff

typedef struct {
	spw_file base;      // pMethods: walMethods once the real file is open
	spw_file *real;     // the default VFS's file, after this struct
	char *buf;          // the run: bytes [start, start+len) of the file
	spw_int64 start;
	int len;
	int cap;
	int expectPage;     // the last write kept was a frame header
	int commit;         // ... of the frame that commits
	spw_int64 next;     // where the next frame is appended, -1: not known
	spw_int64 lastHeader; // a frame header written through, -1: none
} walFile;

static spw_vfs *realVFS(spw_vfs *v) { return (spw_vfs *)v->pAppData; }

static int realOffset(void) { return (int)((sizeof(walFile) + 15) & ~15); }

// flush writes the run kept in memory, if any, with the real file's xWrite.
static int flush(walFile *f) {
	int rc = SPW_OK;
	for (int done = 0; done < f->len && rc == SPW_OK;) {
		int n = f->len - done;
		if (n > SPW_MAX_WRITE) {
			n = SPW_MAX_WRITE;
		}
		rc = f->real->pMethods->xWrite(f->real, f->buf + done, n, f->start + done);
		done += n;
	}
	f->len = 0;
	f->expectPage = 0;
	f->commit = 0;
	return rc;
}

// keep appends a write to the run.
static int keep(walFile *f, const void *p, int n, spw_int64 off) {
	if (f->len == 0) {
		f->start = off;
	}
	if (f->len + n > f->cap) {
		int c = f->cap ? f->cap : 256 << 10;
		while (c < f->len + n) {
			c *= 2;
		}
		char *b = realloc(f->buf, (size_t)c);
		if (b == NULL) {
			return SPW_NOMEM;
		}
		f->buf = b;
		f->cap = c;
	}
	memcpy(f->buf + f->len, p, (size_t)n);
	f->len += n;
	return SPW_OK;
}

// settle readies the file for a call other than an append: the run kept
// in memory is written, and the frame header written last is forgotten
// (the append point is learnt only from a header followed at once by its
// page).
static int settle(walFile *f) {
	f->lastHeader = -1;
	return flush(f);
}

static int walWrite(spw_file *pf, const void *p, int n, spw_int64 off) {
	walFile *f = (walFile *)pf;
	int rc;
	if (f->expectPage && f->len > 0 && off == f->start + f->len) {
		// The page of the frame whose header was kept.
		rc = keep(f, p, n, off);
		if (rc != SPW_OK) {
			return rc;
		}
		f->expectPage = 0;
		f->next = off + n;
		if (f->commit || f->len + SPW_FRAME_HEADER + n > SPW_MAX_WRITE) {
			return flush(f);
		}
		return SPW_OK;
	}
	if (n == SPW_FRAME_HEADER && !f->expectPage && off == f->next &&
	    (f->len == 0 || off == f->start + f->len)) {
		// The header of a frame appended to the WAL.
		rc = keep(f, p, n, off);
		if (rc != SPW_OK) {
			return rc;
		}
		const unsigned char *h = p;
		f->lastHeader = -1;
		f->expectPage = 1;
		f->commit = (h[4] | h[5] | h[6] | h[7]) != 0;
		return SPW_OK;
	}
	// Anything else goes to the file as it comes, after the run: the WAL
	// header, a page written again in place, the headers whose checksums
	// SQLite writes again after the commit frame (walRewriteChecksums).
	rc = flush(f);
	if (rc != SPW_OK) {
		return rc;
	}
	if (n == SPW_FRAME_HEADER && off == f->next) {
		return walWrite(pf, p, n, off);
	}
	rc = f->real->pMethods->xWrite(f->real, p, n, off);
	if (rc != SPW_OK) {
		return rc;
	}
	// Learn where frames are appended: after the WAL header, and after a
	// frame written whole (a header, then at once its page: any other
	// call in between forgets the header), which only an append does.
	if (off == 0 && n == SPW_WAL_HEADER) {
		f->next = SPW_WAL_HEADER;
		f->lastHeader = -1;
	} else if (n == SPW_FRAME_HEADER) {
		f->lastHeader = off;
	} else {
		if (f->lastHeader >= 0 && off == f->lastHeader + SPW_FRAME_HEADER) {
			f->next = off + n;
		}
		f->lastHeader = -1;
	}
	return SPW_OK;
}

static int walClose(spw_file *pf) {
	walFile *f = (walFile *)pf;
	int rc = flush(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	return rc != SPW_OK ? rc : rc2;
}

static int walRead(spw_file *pf, void *p, int n, spw_int64 off) {
	walFile *f = (walFile *)pf;
	int rc = settle(f);
	if (rc != SPW_OK) {
		return rc;
	}
	return f->real->pMethods->xRead(f->real, p, n, off);
}

static int walTruncate(spw_file *pf, spw_int64 size) {
	walFile *f = (walFile *)pf;
	int rc = settle(f);
	if (rc != SPW_OK) {
		return rc;
	}
	return f->real->pMethods->xTruncate(f->real, size);
}

static int walSync(spw_file *pf, int flags) {
	walFile *f = (walFile *)pf;
	int rc = settle(f);
	if (rc != SPW_OK) {
		return rc;
	}
	return f->real->pMethods->xSync(f->real, flags);
}

static int walFileSize(spw_file *pf, spw_int64 *size) {
	walFile *f = (walFile *)pf;
	int rc = settle(f);
	if (rc != SPW_OK) {
		return rc;
	}
	return f->real->pMethods->xFileSize(f->real, size);
}

static int walLock(spw_file *pf, int l) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xLock(f->real, l);
}

static int walUnlock(spw_file *pf, int l) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xUnlock(f->real, l);
}

static int walCheckReservedLock(spw_file *pf, int *out) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walFileControl(spw_file *pf, int op, void *arg) {
	walFile *f = (walFile *)pf;
	int rc = settle(f);
	if (rc != SPW_OK) {
		return rc;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walSectorSize(spw_file *pf) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xSectorSize(f->real);
}

static int walDeviceCharacteristics(spw_file *pf) {
	walFile *f = (walFile *)pf;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

// Version 1: SQLite maps no memory and takes no shared-memory lock on a
// WAL file (those are the database file's).
static const spw_io_methods walMethods = {
	1,
	walClose,
	walRead,
	walWrite,
	walTruncate,
	walSync,
	walFileSize,
	walLock,
	walUnlock,
	walCheckReservedLock,
	walFileControl,
	walSectorSize,
	walDeviceCharacteristics,
	0, 0, 0, 0, 0, 0,
};

static int vOpen(spw_vfs *v, const char *name, spw_file *pf, int flags, int *outFlags) {
	spw_vfs *r = realVFS(v);
	if ((flags & SPW_OPEN_WAL) == 0) {
		// The real file in place: its methods are the real ones.
		return r->xOpen(r, name, pf, flags, outFlags);
	}
	walFile *f = (walFile *)pf;
	memset(f, 0, sizeof(*f));
	f->real = (spw_file *)((char *)pf + realOffset());
	f->next = -1;
	f->lastHeader = -1;
	int rc = r->xOpen(r, name, f->real, flags, outFlags);
	if (rc != SPW_OK || f->real->pMethods == NULL) {
		f->base.pMethods = NULL;
		return rc != SPW_OK ? rc : SPW_ERROR;
	}
	f->base.pMethods = &walMethods;
	return SPW_OK;
}

static int vDelete(spw_vfs *v, const char *name, int syncDir) {
	return realVFS(v)->xDelete(realVFS(v), name, syncDir);
}
static int vAccess(spw_vfs *v, const char *name, int flags, int *out) {
	return realVFS(v)->xAccess(realVFS(v), name, flags, out);
}
static int vFullPathname(spw_vfs *v, const char *name, int n, char *out) {
	return realVFS(v)->xFullPathname(realVFS(v), name, n, out);
}
static void *vDlOpen(spw_vfs *v, const char *name) {
	return realVFS(v)->xDlOpen(realVFS(v), name);
}
static void vDlError(spw_vfs *v, int n, char *msg) {
	realVFS(v)->xDlError(realVFS(v), n, msg);
}
static void (*vDlSym(spw_vfs *v, void *h, const char *sym))(void) {
	return realVFS(v)->xDlSym(realVFS(v), h, sym);
}
static void vDlClose(spw_vfs *v, void *h) {
	realVFS(v)->xDlClose(realVFS(v), h);
}
static int vRandomness(spw_vfs *v, int n, char *out) {
	return realVFS(v)->xRandomness(realVFS(v), n, out);
}
static int vSleep(spw_vfs *v, int us) {
	return realVFS(v)->xSleep(realVFS(v), us);
}
static int vCurrentTime(spw_vfs *v, double *t) {
	return realVFS(v)->xCurrentTime(realVFS(v), t);
}
static int vGetLastError(spw_vfs *v, int n, char *msg) {
	return realVFS(v)->xGetLastError(realVFS(v), n, msg);
}
static int vCurrentTimeInt64(spw_vfs *v, spw_int64 *t) {
	return realVFS(v)->xCurrentTimeInt64(realVFS(v), t);
}
static int vSetSystemCall(spw_vfs *v, const char *name, spw_syscall_ptr p) {
	return realVFS(v)->xSetSystemCall(realVFS(v), name, p);
}
static spw_syscall_ptr vGetSystemCall(spw_vfs *v, const char *name) {
	return realVFS(v)->xGetSystemCall(realVFS(v), name);
}
static const char *vNextSystemCall(spw_vfs *v, const char *name) {
	return realVFS(v)->xNextSystemCall(realVFS(v), name);
}

// The VFS is registered once per process: SQLite keeps its VFSes in a
// process-wide list.
static spw_vfs walVFS;
static int registered = SPW_ERROR;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void registerOnce(void) {
	spw_vfs *r = sqlite3_vfs_find(0);
	if (r == NULL || r->iVersion < 2) {
		return;
	}
	walVFS.iVersion = r->iVersion < 3 ? r->iVersion : 3;
	walVFS.szOsFile = realOffset() + r->szOsFile;
	walVFS.mxPathname = r->mxPathname;
	walVFS.zName = "sportello-wal";
	walVFS.pAppData = r;
	walVFS.xOpen = vOpen;
	walVFS.xDelete = vDelete;
	walVFS.xAccess = vAccess;
	walVFS.xFullPathname = vFullPathname;
	walVFS.xDlOpen = vDlOpen;
	walVFS.xDlError = vDlError;
	walVFS.xDlSym = vDlSym;
	walVFS.xDlClose = vDlClose;
	walVFS.xRandomness = vRandomness;
	walVFS.xSleep = vSleep;
	walVFS.xCurrentTime = vCurrentTime;
	walVFS.xGetLastError = vGetLastError;
	walVFS.xCurrentTimeInt64 = vCurrentTimeInt64;
	if (walVFS.iVersion >= 3) {
		walVFS.xSetSystemCall = vSetSystemCall;
		walVFS.xGetSystemCall = vGetSystemCall;
		walVFS.xNextSystemCall = vNextSystemCall;
	}
	registered = sqlite3_vfs_register(&walVFS, 0);
}

// sportello_register_wal_vfs registers the VFS "sportello-wal" and returns
// SQLite's result code (0 once it is registered).
int sportello_register_wal_vfs(void) {
	pthread_once(&once, registerOnce);
	return registered;
}
