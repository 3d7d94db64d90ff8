package docs

import "errors"

// Errors of the package. Upload maps them to HTTP answers; the ones that
// apply can return are registered with the cluster's error codec so that
// errors.Is works on a follower too.
var (
	// ErrTooLarge: the body is longer than Policy.MaxBytes. Nothing is stored.
	ErrTooLarge = errors.New("docs: file too large")
	// ErrType: the bytes are not of an accepted type, whatever the name
	// or the Content-Type header say. Nothing is stored.
	ErrType = errors.New("docs: file type not accepted")
	// ErrEmpty: the file has no bytes. Nothing is stored.
	ErrEmpty = errors.New("docs: empty file")
	// ErrInfected: the scanner found a signature (the error's text names
	// it). Nothing is stored.
	ErrInfected = errors.New("docs: file infected")
	// ErrScan: the scanner could not give a verdict (unreachable, timeout,
	// unexpected reply). Uploads fail closed: nothing is stored.
	ErrScan = errors.New("docs: scanner unavailable")
	// ErrNotFound: no committed document with that ID in that Comune.
	ErrNotFound = errors.New("docs: document not found")
	// ErrIncomplete: a commit whose chunks are missing, or whose bytes do
	// not match the size and SHA-256 it declares (apply refuses it).
	ErrIncomplete = errors.New("docs: document chunks missing or corrupt")
	// ErrExists: a chunk or commit for a document already committed.
	ErrExists = errors.New("docs: document already committed")
)
