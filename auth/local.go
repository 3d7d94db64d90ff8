package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Break-glass administrators: appliance administrators who log in with a
// local password and a TOTP code instead of a Comune's identity provider,
// created on the command line (`sportello admin create`). They are
// appliance-wide: one account logs in on every Comune's host. See
// DESIGN.md, "Break-glass administrators".

// LocalIssuer and LocalProvider are the issuer and provider of the user
// row a break-glass administrator gets in a Comune at its first login
// there (the subject is the administrator's ID). Neither can be an OpenID
// provider's: an issuer must be an http(s) URL and a provider ID cannot
// start with an underscore.
const (
	LocalIssuer   = "sportello:locale"
	LocalProvider = "_locale"
)

// Lockout of break-glass accounts: after LocalMaxFailures wrong logins in
// a row the account refuses every login for LocalLockout. Both are
// decided in apply, so the count is the same on every node.
const (
	LocalMaxFailures = 5
	LocalLockout     = 15 * time.Minute
)

// Password rules of break-glass accounts.
const (
	MinPasswordLength = 12
	maxPasswordLength = 1024
)

// Argon2id parameters of new password hashes: 64 MiB and three passes
// (RFC 9106's second recommended option) but one lane, so that a check
// keeps one core busy and never all of them: on a two-core node the
// other core stays free for Raft's heartbeats and the requests. The
// parameters are written in each hash, so that they can be raised later
// without invalidating the hashes already stored.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// LocalAdmin is a break-glass administrator as the state keeps it,
// without its secrets.
type LocalAdmin struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	// Confirmed is false until a code of the account's TOTP secret has
	// been entered on the command line (after creation and after every
	// reset of the secret): until then the account cannot log in.
	Confirmed bool `json:"confirmed"`
	Disabled  bool `json:"disabled"`
	// Failures counts the wrong logins since the last good one or lock.
	Failures int `json:"failures"`
	// LockedUntil, when after now, refuses every login.
	LockedUntil time.Time `json:"locked_until"`
	Created     time.Time `json:"created"`
	LastLogin   time.Time `json:"last_login"`
}

// NewLocalAdmin is what `sportello admin create` gives: the account's
// attributes and its password in clear (hashed by the Store, never
// proposed).
type NewLocalAdmin struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Password    string `json:"password"`
}

// Errors of break-glass accounts.
var (
	// ErrBadCredentials refuses a break-glass login, whatever was wrong:
	// unknown user, password, code, replayed code, lock, disabled or
	// unconfirmed account. The reason is in the wrapping text, for the
	// log only.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrLocalAdminExists means the username is taken.
	ErrLocalAdminExists = errors.New("administrator already exists")
	// ErrLocalAdminNotFound means no break-glass administrator has that
	// username.
	ErrLocalAdminNotFound = errors.New("administrator not found")
	// ErrCodeInvalid refuses the code that should confirm a TOTP secret.
	ErrCodeInvalid = errors.New("TOTP code invalid or already used")
)

// usernamePattern is the form of break-glass usernames: they are typed on
// a login form and a command line.
var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,39}$`)

// normalizeLocal trims n's fields and lowers the username.
func normalizeLocal(n *NewLocalAdmin) {
	n.Username = strings.ToLower(strings.TrimSpace(n.Username))
	n.DisplayName = strings.TrimSpace(n.DisplayName)
	n.Email = strings.TrimSpace(n.Email)
	if n.DisplayName == "" {
		n.DisplayName = n.Username
	}
}

// validateLocal checks a new account, with messages in Italian.
func validateLocal(n NewLocalAdmin) error {
	f := map[string]string{}
	if !usernamePattern.MatchString(n.Username) {
		f["username"] = "Usa da 2 a 40 caratteri tra lettere minuscole, cifre, punti, trattini e trattini bassi."
	}
	if utf8.RuneCountInString(n.DisplayName) > 100 {
		f["display_name"] = "Il nome non può superare i 100 caratteri."
	}
	if n.Email != "" {
		if a, err := mail.ParseAddress(n.Email); err != nil || a.Address != n.Email {
			f["email"] = "Indica un indirizzo email valido, per esempio nome@comune.it."
		}
	}
	if msg := PasswordProblem(n.Password, n.Username); msg != "" {
		f["password"] = msg
	}
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// PasswordProblem returns "" for a password good enough for a break-glass
// account, or what is wrong with it in Italian: at least
// MinPasswordLength characters, of at least two classes (lower case,
// upper case, digits, others), not containing the username. A long
// passphrase of lower-case words passes only with a digit or a space:
// the rule is deliberately simple, and the TOTP code is the second
// factor.
func PasswordProblem(password, username string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return fmt.Sprintf("La password deve avere almeno %d caratteri.", MinPasswordLength)
	case len(password) > maxPasswordLength:
		return fmt.Sprintf("La password non può superare i %d byte.", maxPasswordLength)
	case !utf8.ValidString(password):
		return "La password contiene caratteri non validi."
	}
	var lower, upper, digit, other int
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	if lower+upper+digit+other < 2 {
		return "La password deve mescolare almeno due tipi di caratteri (minuscole, maiuscole, cifre, simboli o spazi)."
	}
	if u := strings.ToLower(strings.TrimSpace(username)); u != "" && strings.Contains(strings.ToLower(password), u) {
		return "La password non può contenere il nome utente."
	}
	return ""
}

// HashPassword returns the argon2id hash of password in the PHC string
// form ($argon2id$v=19$m=…,t=…,p=…$salt$hash), with a fresh salt from
// rnd.
func HashPassword(password string, rnd io.Reader) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("draw salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// phc is a parsed argon2id hash.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC reads a hash written by HashPassword. It refuses parameters
// far beyond ours, so that a hash cannot make a login cost minutes.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return phc{}, errors.New("unsupported argon2 version")
	}
	var (
		p       phc
		threads uint32
	)
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil {
		return phc{}, fmt.Errorf("argon2id parameters: %w", err)
	}
	if p.memory < 8*1024 || p.memory > 1024*1024 || p.time < 1 || p.time > 20 || threads < 1 || threads > 16 {
		return phc{}, errors.New("argon2id parameters out of range")
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return phc{}, errors.New("argon2id salt invalid")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return phc{}, errors.New("argon2id key invalid")
	}
	return p, nil
}

// checkPassword reports whether password matches hash, comparing in
// constant time.
func checkPassword(hash, password string) bool {
	p, err := parsePHC(hash)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// dummyHash is checked against when the username is unknown, so that a
// login for a user that does not exist costs what one for a real user
// costs and the answer's timing does not tell them apart. Its salt and
// key are arbitrary: no password matches them in practice.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=1$c3BvcnRlbGxvLWR1bW15$ZHVtbXktZHVtbXktZHVtbXktZHVtbXktZHVtbXk"

// credentialsMark ties a login or confirmation to the password hash and
// TOTP secret the proposer checked: apply compares it with the account's
// current ones, so that a node which has not yet applied a reset cannot
// let the old secret in.
func credentialsMark(passwordHash, totpSecret string) string {
	return Hash(passwordHash + "\n" + totpSecret)
}
