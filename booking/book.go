package booking

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

var errTodo = errors.New("not implemented yet")

// Book is the appointment book of every Comune on the node: it reads from
// the local SQLite view and writes by proposing commands.
type Book struct {
	p   cluster.Proposer
	db  *sql.DB
	now func() time.Time
	rnd io.Reader
}

// NewBook returns a Book over the node's proposer and read pool. now and
// rnd are the proposer-side clock and randomness (tokens, codes, IDs).
func NewBook(p cluster.Proposer, db *sql.DB, now func() time.Time, rnd io.Reader) *Book {
	return &Book{p: p, db: db, now: now, rnd: rnd}
}

// Offices lists the Comune's offices with their services.
func (b *Book) Offices(ctx context.Context, t tenant.ID) ([]Office, error) { return nil, errTodo }

// Office returns one office with its services.
func (b *Book) Office(ctx context.Context, t tenant.ID, id string) (Office, error) {
	return Office{}, errTodo
}

// Service returns one service.
func (b *Book) Service(ctx context.Context, t tenant.ID, id string) (Service, error) {
	return Service{}, errTodo
}

// Slots returns the service's slots with start on the days from..to
// (inclusive) in the Comune's time zone, free or not, as of now.
func (b *Book) Slots(ctx context.Context, t tenant.Tenant, serviceID string, from, to civil.Date) ([]Slot, error) {
	return nil, errTodo
}

// Create books a slot. baseURL ("https://bari.example.it") is where the
// citizen's links in the email point.
func (b *Book) Create(ctx context.Context, t tenant.Tenant, req Request, baseURL string) (Created, error) {
	return Created{}, errTodo
}

// Get returns the booking with code if token is its manage token.
func (b *Book) Get(ctx context.Context, t tenant.ID, code, token string) (Booking, error) {
	return Booking{}, errTodo
}

// Cancel cancels the booking, within its cancellation deadline.
func (b *Book) Cancel(ctx context.Context, t tenant.Tenant, code, token, baseURL string) (Booking, error) {
	return Booking{}, errTodo
}

// Move moves the booking to another slot of the same service.
func (b *Book) Move(ctx context.Context, t tenant.Tenant, code, token string, start time.Time, baseURL string) (Booking, error) {
	return Booking{}, errTodo
}

// SaveOffice creates or replaces an office (administrators, demo seeding).
func (b *Book) SaveOffice(ctx context.Context, t tenant.ID, o Office) (Office, error) {
	return Office{}, errTodo
}

// SaveService creates or replaces a service.
func (b *Book) SaveService(ctx context.Context, t tenant.ID, s Service) (Service, error) {
	return Service{}, errTodo
}

// AddClosure closes an office (or all) on a range of days.
func (b *Book) AddClosure(ctx context.Context, t tenant.ID, c Closure) (Closure, error) {
	return Closure{}, errTodo
}

// AddOpening adds an extra opening.
func (b *Book) AddOpening(ctx context.Context, t tenant.ID, o Opening) (Opening, error) {
	return Opening{}, errTodo
}

// ManagePath is the citizen's manage page of a booking.
func ManagePath(code, token string) string { return "/prenotazioni/" + code + "?token=" + token }

// JoinPath is the call page of a video or phone booking.
func JoinPath(code, joinToken string) string { return "/chiamata/" + code + "?t=" + joinToken }
