package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
)

// `sportello admin ...` manages the break-glass appliance administrators
// (auth.LocalAdmin) of the running node, through its admin socket: the
// first administrator of an installation is created here, before any
// Comune has an identity provider. The password is typed twice without
// echo (or read from stdin with --password-stdin), checked here and again
// by the node, and hashed by the node; the TOTP secret is drawn by the
// node and shown once. The account logs in only after one current code
// of the authenticator app has been entered (here, or later with
// `sportello admin confirm`), which proves the app holds the secret
// before the account can be needed.

// adminUserRoutes adds the break-glass accounts to the admin socket.
func (a *adminServer) adminUserRoutes(mux *http.ServeMux) {
	st := auth.NewStore(auth.Config{Proposer: a.node, DB: a.node.DB()})
	mux.HandleFunc("GET /v1/admins", func(w http.ResponseWriter, r *http.Request) {
		list, err := st.LocalAdmins(r.Context())
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Admins []auth.LocalAdmin `json:"admins"`
		}{list})
	})
	mux.HandleFunc("POST /v1/admins", func(w http.ResponseWriter, r *http.Request) {
		var n auth.NewLocalAdmin
		if !a.decode(w, r, &n) {
			return
		}
		sec, err := st.CreateLocalAdmin(r.Context(), n)
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("break-glass administrator created", "admin", sec.Admin.Username)
		writeJSON(w, http.StatusCreated, sec)
	})
	mux.HandleFunc("POST /v1/admins/{name}/confirm", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code string `json:"code"`
		}
		if !a.decode(w, r, &in) {
			return
		}
		if err := st.ConfirmLocalAdmin(r.Context(), r.PathValue("name"), in.Code); err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("break-glass administrator confirmed", "admin", r.PathValue("name"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/admins/{name}/disabled", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Disabled bool `json:"disabled"`
		}
		if !a.decode(w, r, &in) {
			return
		}
		if err := st.SetLocalDisabled(r.Context(), r.PathValue("name"), in.Disabled); err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("break-glass administrator changed", "admin", r.PathValue("name"), "disabled", in.Disabled)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/admins/{name}/reset-totp", func(w http.ResponseWriter, r *http.Request) {
		sec, err := st.ResetLocalTOTP(r.Context(), r.PathValue("name"))
		if err != nil {
			a.failAuth(w, r, err)
			return
		}
		a.log.Info("break-glass administrator TOTP reset", "admin", sec.Admin.Username)
		writeJSON(w, http.StatusOK, sec)
	})
}

// failAuth maps the errors of break-glass accounts, then the others as
// fail does.
func (a *adminServer) failAuth(w http.ResponseWriter, r *http.Request, err error) {
	var ve *auth.ValidationError
	body := adminErrorBody{Message: err.Error()}
	switch {
	case errors.As(err, &ve):
		body.Code, body.Fields = "invalid", ve.Fields
		writeJSON(w, http.StatusUnprocessableEntity, adminError{body})
	case errors.Is(err, auth.ErrCodeInvalid):
		body.Code, body.Message = "invalid", "the code is not a current code of the account's TOTP secret, or was already used"
		writeJSON(w, http.StatusUnprocessableEntity, adminError{body})
	case errors.Is(err, auth.ErrLocalAdminExists):
		body.Code = "conflict"
		writeJSON(w, http.StatusConflict, adminError{body})
	case errors.Is(err, auth.ErrLocalAdminNotFound):
		body.Code = "not_found"
		writeJSON(w, http.StatusNotFound, adminError{body})
	default:
		a.fail(w, r, err)
	}
}

// cmdAdmin dispatches `sportello admin ...`.
func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	return cmdAdminIO(args, os.Stdin, stdout, stderr)
}

func cmdAdminIO(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		adminUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "create":
		return adminCreate(args[1:], stdin, stdout, stderr)
	case "confirm":
		return adminConfirm(args[1:], stdin, stdout, stderr)
	case "list":
		return adminList(args[1:], stdout, stderr)
	case "disable":
		return adminSetDisabled(args[1:], true, stdout, stderr)
	case "enable":
		return adminSetDisabled(args[1:], false, stdout, stderr)
	case "reset-totp":
		return adminResetTOTP(args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		adminUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "sportello admin: unknown command %q\n\n", args[0])
	adminUsage(stderr)
	return exitUsage
}

func adminUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  sportello admin create --username NAME [--display-name NAME] [--email ADDR] [--password-stdin]
  sportello admin confirm USER        enter a current code to make the account usable
  sportello admin list [--json]
  sportello admin disable USER        refuse its logins and end its sessions in every Comune
  sportello admin enable USER         allow it again (also lifts a lock after failed logins)
  sportello admin reset-totp USER     new TOTP secret (lost phone); ends its sessions

Break-glass appliance administrators log in on any Comune's host at
/_auth/locale with username, password and the code of an authenticator
app (TOTP, RFC 6238). Every command takes --data DIR (default
./sportello-data) and talks to the node running there through its admin
socket.
`)
}

// breakGlassFlags adds the flags every admin subcommand has.
func breakGlassFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, fs.String("data", defaultConfig().DataDir, "data `dir` of the running node")
}

// lineReader reads answers from stdin, one line each, echoed or not.
type lineReader struct {
	in       *bufio.Reader
	terminal bool
	out      io.Writer
}

func newLineReader(stdin io.Reader, out io.Writer) *lineReader {
	lr := &lineReader{in: bufio.NewReader(stdin), out: out}
	if f, ok := stdin.(*os.File); ok {
		lr.terminal = isTerminal(f)
	}
	return lr
}

// isTerminal reports whether f is a terminal: a character device (not a
// pipe or a file) that stty can read the settings of (not /dev/null).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	cmd := exec.Command("stty", "-g")
	cmd.Stdin = f
	return cmd.Run() == nil
}

// errNoInput means stdin ended before the answer.
var errNoInput = errors.New("no input")

// line prompts (on a terminal) and reads one line without its newline.
// With secret the terminal does not echo it: stty is used rather than a
// terminal library, as every Unix the node runs on has it.
func (lr *lineReader) line(prompt string, secret bool) (string, error) {
	if lr.terminal {
		fmt.Fprint(lr.out, prompt)
		if secret {
			if err := stty("-echo"); err == nil {
				defer func() {
					stty("echo")
					fmt.Fprintln(lr.out)
				}()
			}
		}
	}
	s, err := lr.in.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			return "", errNoInput
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// stty changes the settings of the terminal on stdin (the only input
// lineReader treats as a terminal).
func stty(arg string) error {
	cmd := exec.Command("stty", arg)
	cmd.Stdin = os.Stdin
	return cmd.Run()
}

func adminCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, dataDir := breakGlassFlags("create", stderr)
	var n auth.NewLocalAdmin
	fs.StringVar(&n.Username, "username", "", "login `name`: lower-case letters, digits, . _ - (required)")
	fs.StringVar(&n.DisplayName, "display-name", "", "`name` shown in the back office (default: the username)")
	fs.StringVar(&n.Email, "email", "", "email `address` of the administrator")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (and the code from the next, if any)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello admin create --username NAME [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if strings.TrimSpace(n.Username) == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "sportello admin create: --username is required, and no argument")
		fs.Usage()
		return exitUsage
	}
	n.Username = strings.ToLower(strings.TrimSpace(n.Username))
	lr := newLineReader(stdin, stderr)
	if !*fromStdin && !lr.terminal {
		fmt.Fprintln(stderr, "sportello admin create: stdin is not a terminal: use --password-stdin to pipe the password")
		return exitUsage
	}
	// Before the password is typed: is a node running, and is the name
	// free? The node checks again when the account is proposed.
	if code := checkNewAdmin(*dataDir, n.Username, stderr); code != exitOK {
		return code
	}
	pw, code := readNewPassword(lr, n.Username, *fromStdin, stderr)
	if code != exitOK {
		return code
	}
	n.Password = pw
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var sec auth.LocalSecret
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/admins", n, &sec); err != nil {
		return reportAdminError(stderr, "admin create", *dataDir, err)
	}
	fmt.Fprintf(stdout, "Created break-glass administrator %s (pending until a code is confirmed).\n", sec.Admin.Username)
	return showSecretAndConfirm(lr, *dataDir, sec, stdout, stderr)
}

// checkNewAdmin reports (and returns the exit code) when no node runs on
// dataDir or username is taken.
func checkNewAdmin(dataDir, username string, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out struct {
		Admins []auth.LocalAdmin `json:"admins"`
	}
	if err := newAdminClient(dataDir).do(ctx, "GET", "/v1/admins", nil, &out); err != nil {
		return reportAdminError(stderr, "admin create", dataDir, err)
	}
	for _, a := range out.Admins {
		if a.Username == username {
			fmt.Fprintf(stderr, "sportello admin create: administrator %s already exists\n", username)
			return exitConflict
		}
	}
	return exitOK
}

// readNewPassword asks for the password twice on a terminal (once from
// stdin) until it is strong enough.
func readNewPassword(lr *lineReader, username string, fromStdin bool, stderr io.Writer) (string, int) {
	for try := 0; try < 3; try++ {
		pw, err := lr.line("Password (at least 12 characters): ", true)
		if err != nil {
			fmt.Fprintf(stderr, "sportello admin create: reading the password: %v\n", err)
			return "", exitUsage
		}
		if msg := auth.PasswordProblem(pw, username); msg != "" {
			fmt.Fprintf(stderr, "Password refused: %s\n", msg)
			if fromStdin {
				return "", exitUsage
			}
			continue
		}
		if fromStdin {
			return pw, exitOK
		}
		again, err := lr.line("Password again: ", true)
		if err != nil {
			return "", exitUsage
		}
		if again != pw {
			fmt.Fprintln(stderr, "The two passwords differ.")
			continue
		}
		return pw, exitOK
	}
	fmt.Fprintln(stderr, "sportello admin create: no acceptable password given")
	return "", exitUsage
}

// showSecretAndConfirm prints the TOTP secret of sec and asks for a
// current code to confirm it. Without one (stdin ended) the account
// stays pending and the command says how to confirm it later.
func showSecretAndConfirm(lr *lineReader, dataDir string, sec auth.LocalSecret, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, `
Add the account to an authenticator app (FreeOTP, Aegis, Google Authenticator...):
by scanning a QR code of the URI, or typing the secret (TOTP, SHA-1, 6 digits, 30 s).

URI:    %s
Secret: %s

Keep the secret offline: it is shown only now.
`, sec.URI, sec.Secret)
	for try := 0; try < 3; try++ {
		code, err := lr.line("\nCurrent code shown by the app (Enter alone to confirm later): ", false)
		// No code (stdin ended, or Enter alone) leaves the account pending:
		// the app may be set up later.
		if errors.Is(err, errNoInput) || (err == nil && strings.TrimSpace(code) == "") {
			fmt.Fprintf(stdout, "\nNot confirmed yet: run `sportello admin confirm %s` with a current code.\n", sec.Admin.Username)
			return exitOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "sportello admin: reading the code: %v\n", err)
			return exitFailure
		}
		ret := confirmCode(dataDir, sec.Admin.Username, code, stdout, stderr)
		if ret == exitOK || !lr.terminal {
			return ret
		}
	}
	return exitFailure
}

// confirmCode sends code to confirm the account's secret.
func confirmCode(dataDir, username, code string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	err := newAdminClient(dataDir).do(ctx, "POST", "/v1/admins/"+url.PathEscape(username)+"/confirm", map[string]string{"code": strings.TrimSpace(code)}, nil)
	if err != nil {
		return reportAdminError(stderr, "admin confirm", dataDir, err)
	}
	fmt.Fprintf(stdout, "Confirmed: %s can log in at https://<Comune host>/_auth/locale\n", username)
	return exitOK
}

// oneUser parses the flags and the one USER argument of a subcommand.
func oneUser(name string, args []string, stderr io.Writer) (dataDir, user string, code int) {
	fs, data := breakGlassFlags(name, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello admin %s USER [--data DIR]\n\n", name)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", "", exitCodeOf(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", "", exitUsage
	}
	return *data, strings.ToLower(pos[0]), exitOK
}

func adminConfirm(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dataDir, user, code := oneUser("confirm", args, stderr)
	if code != exitOK {
		return code
	}
	lr := newLineReader(stdin, stderr)
	c, err := lr.line("Current code shown by the app: ", false)
	if err != nil {
		fmt.Fprintf(stderr, "sportello admin confirm: reading the code: %v\n", err)
		return exitUsage
	}
	return confirmCode(dataDir, user, c, stdout, stderr)
}

func adminList(args []string, stdout, stderr io.Writer) int {
	fs, dataDir := breakGlassFlags("list", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out struct {
		Admins []auth.LocalAdmin `json:"admins"`
	}
	if err := newAdminClient(*dataDir).do(ctx, "GET", "/v1/admins", nil, &out); err != nil {
		return reportAdminError(stderr, "admin list", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tNAME\tEMAIL\tSTATE\tLAST LOGIN")
	now := time.Now()
	for _, a := range out.Admins {
		state := "active"
		switch {
		case a.Disabled:
			state = "disabled"
		case !a.Confirmed:
			state = "pending"
		case a.LockedUntil.After(now):
			state = "locked until " + a.LockedUntil.Local().Format("15:04")
		}
		last := "-"
		if !a.LastLogin.IsZero() {
			last = a.LastLogin.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Username, a.DisplayName, a.Email, state, last)
	}
	tw.Flush()
	return exitOK
}

func adminSetDisabled(args []string, disabled bool, stdout, stderr io.Writer) int {
	name := "enable"
	if disabled {
		name = "disable"
	}
	dataDir, user, code := oneUser(name, args, stderr)
	if code != exitOK {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := newAdminClient(dataDir).do(ctx, "POST", "/v1/admins/"+url.PathEscape(user)+"/disabled", map[string]bool{"disabled": disabled}, nil); err != nil {
		return reportAdminError(stderr, "admin "+name, dataDir, err)
	}
	if disabled {
		fmt.Fprintf(stdout, "Disabled %s: its sessions have ended in every Comune.\n", user)
	} else {
		fmt.Fprintf(stdout, "Enabled %s (and lifted any lock).\n", user)
	}
	return exitOK
}

func adminResetTOTP(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dataDir, user, code := oneUser("reset-totp", args, stderr)
	if code != exitOK {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var sec auth.LocalSecret
	if err := newAdminClient(dataDir).do(ctx, "POST", "/v1/admins/"+url.PathEscape(user)+"/reset-totp", nil, &sec); err != nil {
		return reportAdminError(stderr, "admin reset-totp", dataDir, err)
	}
	fmt.Fprintf(stdout, "New TOTP secret for %s; its sessions have ended and it is pending until a code is confirmed.\n", user)
	return showSecretAndConfirm(newLineReader(stdin, stderr), dataDir, sec, stdout, stderr)
}
