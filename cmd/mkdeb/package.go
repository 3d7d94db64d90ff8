package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// defaultMaintainer is the Maintainer field unless -maintainer says
// otherwise.
const defaultMaintainer = "Sportello Virtuale <sportello@example.org>"

// Paths of the package's files on the installed system. The unit goes to
// /lib/systemd/system, where Debian packages put theirs (on a merged /usr
// it is the same folder as /usr/lib/systemd/system).
const (
	binaryPath   = "/usr/bin/sportello"
	unitPath     = "/lib/systemd/system/sportello.service"
	conffilePath = "/etc/sportello/sportello.toml"
	docDir       = "/usr/share/doc/sportello"
)

// crossCompilers are the C compilers cgo uses to build for an
// architecture other than this machine's, by Debian package.
var crossCompilers = map[string]struct{ cc, pkg string }{
	"amd64": {"x86_64-linux-gnu-gcc", "gcc-x86-64-linux-gnu"},
	"arm64": {"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"},
}

// options are mkdeb's flags.
type options struct {
	version    string
	arches     []string
	out        string
	binary     string
	root       string
	maintainer string
}

// debianVersion matches the upstream part of a Debian version that dpkg
// accepts: a digit first, then alphanumerics and . + ~ -.
var debianVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~-]*$`)

// check validates the options and normalises the version.
func (o *options) check() error {
	o.version = strings.TrimPrefix(o.version, "v")
	switch {
	case o.version == "":
		return errors.New("-version is required (such as 1.2.0)")
	case !debianVersion.MatchString(o.version):
		return fmt.Errorf("-version %q: a version starts with a digit and holds only letters, digits and . + ~ -", o.version)
	case len(o.arches) == 0:
		return errors.New("-arch names no architecture")
	case o.binary != "" && len(o.arches) != 1:
		return errors.New("-binary packages one binary: give exactly one -arch")
	case !strings.Contains(o.maintainer, "<") || !strings.HasSuffix(o.maintainer, ">"):
		return fmt.Errorf("-maintainer %q: want Name <email>", o.maintainer)
	}
	for _, a := range o.arches {
		if _, ok := crossCompilers[a]; !ok {
			return fmt.Errorf("-arch %q: want amd64 or arm64", a)
		}
	}
	if _, err := os.Stat(filepath.Join(o.root, "packaging", "sportello.toml")); err != nil {
		return fmt.Errorf("-root %q is not the repository root: %w", o.root, err)
	}
	return nil
}

// buildPackage writes sportello_<version>_<arch>.deb into o.out and
// returns its path.
func buildPackage(o options, arch string, stderr io.Writer) (string, error) {
	bin := o.binary
	if bin == "" {
		tmp, err := os.MkdirTemp("", "mkdeb-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "sportello")
		if err := compile(o, arch, bin, stderr); err != nil {
			return "", err
		}
	}
	info, err := packageInfo(o, arch, bin)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.out, deb.Default.ConventionalFileName(info))
	// Written beside and renamed, so that a failed build leaves no
	// half-written package under the final name.
	f, err := os.CreateTemp(o.out, ".mkdeb-*.deb")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("package: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// packageInfo describes the package: control fields, files and
// maintainer scripts, all taken from the repository under o.root.
func packageInfo(o options, arch, bin string) (*nfpm.Info, error) {
	depends := []string{"adduser"}
	libc, err := libcDepends(bin)
	if err != nil {
		return nil, err
	}
	if libc != "" {
		depends = append(depends, libc)
	}
	pkg := func(p ...string) string { return filepath.Join(append([]string{o.root, "packaging"}, p...)...) }
	contents := files.Contents{
		{Source: bin, Destination: binaryPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: pkg("systemd", "sportello.service"), Destination: unitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		// A conffile: dpkg keeps the administrator's edits on upgrade and
		// asks when both sides changed. Readable by the node's group only
		// (postinst sets root:sportello with dpkg-statoverride).
		{Source: pkg("sportello.toml"), Destination: conffilePath, Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o640}},
		{Source: pkg("README.md"), Destination: docDir + "/README.md", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
	}
	docs, _ := filepath.Glob(filepath.Join(o.root, "docs", "*.md"))
	for _, d := range docs {
		contents = append(contents, &files.Content{Source: d, Destination: docDir + "/" + filepath.Base(d), FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	for _, c := range contents {
		if _, err := os.Stat(c.Source); err != nil {
			return nil, err
		}
	}
	info := &nfpm.Info{
		Name:        "sportello",
		Arch:        arch,
		Platform:    "linux",
		Version:     o.version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  o.maintainer,
		Homepage:    "https://github.com/sportello-virtuale/sportello",
		License:     "see /usr/share/doc/sportello",
		Description: description,
		Overridables: nfpm.Overridables{
			Depends:  depends,
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: pkg("debian", "postinst"),
				PreRemove:   pkg("debian", "prerm"),
				PostRemove:  pkg("debian", "postrm"),
			},
		},
	}
	// Defaults fill the rest; SOURCE_DATE_EPOCH, when set, fixes every
	// timestamp so that two builds of one commit are the same bytes.
	return nfpm.WithDefaults(info), nil
}

// description is the control file's Description: a synopsis line, then
// the extended description.
const description = `virtual public counter (sportello virtuale) for Italian Comuni
 Sportello lets citizens book appointments at their Comune's offices, take
 a number in a virtual queue and meet an operator in a video call. One
 binary hosts many Comuni; its state is replicated with Raft into SQLite,
 so the same package runs a single node or a cluster of three or more.
 .
 The package installs the binary, a hardened systemd unit (not started
 until configured), and /etc/sportello/sportello.toml.`

// compile builds cmd/sportello for arch into out, with the version and
// commit stamped in as version.go expects.
func compile(o options, arch, out string, stderr io.Writer) error {
	ldflags := "-s -w -X main.version=" + o.version
	if c := gitCommit(o.root); c != "" {
		ldflags += " -X main.commit=" + c
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/sportello")
	cmd.Dir = o.root
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=1")
	if arch != runtime.GOARCH && os.Getenv("CC") == "" {
		cc := crossCompilers[arch]
		if _, err := exec.LookPath(cc.cc); err != nil {
			return fmt.Errorf("sportello needs cgo (SQLite), and building it for %s on %s needs the C cross compiler %s: "+
				"install the Debian package %s, set CC, or pass a binary built on a %s machine with -binary",
				arch, runtime.GOARCH, cc.cc, cc.pkg, arch)
		}
		cmd.Env = append(cmd.Env, "CC="+cc.cc)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w", arch, err)
	}
	return nil
}

// gitCommit returns the checked-out commit of root, or "" outside a git
// checkout.
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// libcDepends returns the dependency on the C library the binary links
// against ("libc6 (>= 2.34)": the newest GLIBC_ symbol version it
// imports), or "" for a binary that is not a dynamically linked ELF file
// (a static build, or a test's stand-in script).
func libcDepends(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", nil
		}
		return "", err
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil || len(syms) == 0 {
		return "", nil // no dynamic symbols: static
	}
	var best []int
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		if !ok {
			continue
		}
		if n := parseVersion(v); n != nil && lessVersion(best, n) {
			best = n
		}
	}
	if best == nil {
		return "libc6", nil
	}
	parts := make([]string, len(best))
	for i, n := range best {
		parts[i] = strconv.Itoa(n)
	}
	return "libc6 (>= " + strings.Join(parts, ".") + ")", nil
}

// parseVersion parses "2.34" into [2 34], nil if it is not dotted numbers
// (GLIBC_PRIVATE).
func parseVersion(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// lessVersion reports whether a sorts before b; nil sorts first.
func lessVersion(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}
