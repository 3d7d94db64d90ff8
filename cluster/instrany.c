// sportello_instr_any(haystack, needle, ...): the SQL function that finds
// any of several texts in one pass over a value (instrany.go explains
// why). It is registered on every SQLite connection the process opens
// (sqlite3_auto_extension), once per process.
//
// Its answer is, by construction, that of
//
//	instr(lower(CAST(haystack AS TEXT)), lower(needle)) > 0
//
// for some needle: SQLite's lower() without ICU folds only the ASCII
// letters, and its instr() on texts tries a match at the first byte and at
// every byte that does not continue a UTF-8 character. A NULL haystack or
// needle matches nothing, as instr() answers NULL for it. Declarations as
// in walvfs.c: written here from SQLite's documented interface
// (https://sqlite.org/c3ref/create_function.html, value_blob.html,
// auto_extension.html), linked against the SQLite of go-sqlite3.

#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;

#define SPI_UTF8 1
#define SPI_NULL 5
#define SPI_DETERMINISTIC 0x000000800
#define SPI_INNOCUOUS 0x000200000

extern int sqlite3_auto_extension(void (*)(void));
extern int sqlite3_create_function_v2(sqlite3 *, const char *, int, int, void *,
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *), void (*)(void *));
extern int sqlite3_value_type(sqlite3_value *);
extern const void *sqlite3_value_blob(sqlite3_value *);
extern int sqlite3_value_bytes(sqlite3_value *);
extern void sqlite3_result_int(sqlite3_context *, int);
extern void sqlite3_result_error_nomem(sqlite3_context *);

static unsigned char fold(unsigned char c) {
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

// found says whether needle n (already folded) occurs in h (folded) at a
// position where SQLite's instr() would look: the first byte, or one that
// is not a UTF-8 continuation byte (10xxxxxx).
static int found(const unsigned char *h, size_t nh, const unsigned char *n, size_t nn) {
	if (nn == 0) {
		return 1;
	}
	size_t at = 0;
	while (nh - at >= nn) {
		const unsigned char *p = memmem(h + at, nh - at, n, nn);
		if (p == NULL) {
			return 0;
		}
		size_t i = (size_t)(p - h);
		if (i == 0 || (h[i] & 0xc0) != 0x80) {
			return 1;
		}
		at = i + 1;
	}
	return 0;
}

static void instrAny(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	if (argc < 1 || sqlite3_value_type(argv[0]) == SPI_NULL) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	const unsigned char *src = sqlite3_value_blob(argv[0]);
	size_t nh = (size_t)sqlite3_value_bytes(argv[0]);
	unsigned char small[4096];
	unsigned char *h = small;
	if (nh > sizeof small) {
		h = malloc(nh);
		if (h == NULL) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
	}
	for (size_t i = 0; i < nh; i++) {
		h[i] = fold(src[i]);
	}
	int hit = 0;
	for (int a = 1; a < argc && !hit; a++) {
		if (sqlite3_value_type(argv[a]) == SPI_NULL) {
			continue;
		}
		const unsigned char *raw = sqlite3_value_blob(argv[a]);
		size_t nn = (size_t)sqlite3_value_bytes(argv[a]);
		unsigned char nsmall[256];
		unsigned char *n = nsmall;
		if (nn > sizeof nsmall) {
			n = malloc(nn);
			if (n == NULL) {
				if (h != small) {
					free(h);
				}
				sqlite3_result_error_nomem(ctx);
				return;
			}
		}
		for (size_t i = 0; i < nn; i++) {
			n[i] = fold(raw[i]);
		}
		hit = found(h, nh, n, nn);
		if (n != nsmall) {
			free(n);
		}
	}
	if (h != small) {
		free(h);
	}
	sqlite3_result_int(ctx, hit);
}

static int entry(sqlite3 *db, char **err, const void *api) {
	(void)err;
	(void)api;
	return sqlite3_create_function_v2(db, "sportello_instr_any", -1, SPI_UTF8 | SPI_DETERMINISTIC | SPI_INNOCUOUS,
		NULL, instrAny, NULL, NULL, NULL);
}

static int registered = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void registerOnce(void) {
	registered = sqlite3_auto_extension((void (*)(void))entry);
}

// sportello_register_instr_any makes every SQLite connection opened from
// now on have sportello_instr_any, and returns SQLite's result code.
int sportello_register_instr_any(void) {
	pthread_once(&once, registerOnce);
	return registered;
}
