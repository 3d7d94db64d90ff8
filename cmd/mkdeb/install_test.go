package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestReproducible builds the same package twice with SOURCE_DATE_EPOCH
// set and expects the same bytes: a published package can be rebuilt
// from its commit and compared.
func TestReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1764201600")
	bin := fakeBinary(t)
	var sums [2][]byte
	for i := range sums {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-version", "1.0.0", "-arch", "amd64", "-binary", bin, "-root", repoRoot, "-out", out}, &stdout, &stderr); code != 0 {
			t.Fatalf("mkdeb exit %d: %s", code, stderr.String())
		}
		b, err := os.ReadFile(strings.TrimSpace(stdout.String()))
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = b
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatal("two builds with the same SOURCE_DATE_EPOCH differ")
	}
}

// TestInstallInChroot installs, upgrades, removes and purges the package
// with dpkg inside a throwaway copy of a Debian system, running the real
// maintainer scripts and the real binary there. It needs such a system,
// made once with
//
//	debootstrap --variant=minbase --include=adduser bookworm /var/tmp/sportello-root
//
// and named by SPORTELLO_DEB_CHROOT (CI sets it); it is skipped without
// it, and it needs root. systemd does not run in the chroot, so the
// scripts' systemctl calls are skipped there, as on any system without
// systemd. SPORTELLO_DEB_BINARY may name a prebuilt sportello binary;
// otherwise the test builds one.
func TestInstallInChroot(t *testing.T) {
	base := os.Getenv("SPORTELLO_DEB_CHROOT")
	if base == "" {
		t.Skip("SPORTELLO_DEB_CHROOT not set (a debootstrapped Debian root)")
	}
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	// A copy, so that the prepared root stays clean for the next run.
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", base, root).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", base, err, out)
	}

	bin := os.Getenv("SPORTELLO_DEB_BINARY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "sportello")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=1.4.2", "-o", bin, "./cmd/sportello")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	pkgs := map[string]string{}
	for _, v := range []string{"1.4.2", "1.4.3"} {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-version", v, "-arch", runtime.GOARCH, "-binary", bin, "-root", repoRoot, "-out", out}, &stdout, &stderr); code != 0 {
			t.Fatalf("mkdeb exit %d: %s", code, stderr.String())
		}
		src := strings.TrimSpace(stdout.String())
		dst := filepath.Join(root, "tmp", filepath.Base(src))
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs[v] = "/tmp/" + filepath.Base(src)
	}

	// in runs a command inside the root and returns its output; fail
	// says whether an error fails the test.
	in := func(fail bool, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command("chroot", append([]string{root}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		if err != nil && fail {
			t.Fatalf("chroot %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), err
	}
	host := func(p string) string { return filepath.Join(root, p) }
	owner := func(p string) (uid, gid uint32, mode os.FileMode) {
		t.Helper()
		st, err := os.Lstat(host(p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		s := st.Sys().(*syscall.Stat_t)
		return s.Uid, s.Gid, st.Mode()
	}
	exists := func(p string) bool {
		_, err := os.Lstat(host(p))
		return err == nil
	}

	// First install.
	out, _ := in(true, "dpkg", "-i", pkgs["1.4.2"])
	if !strings.Contains(out, "installed but not started") {
		t.Errorf("first install does not say the node is not started:\n%s", out)
	}
	pw, _ := in(true, "getent", "passwd", "sportello")
	f := strings.Split(strings.TrimSpace(pw), ":")
	if len(f) < 7 || f[5] != "/var/lib/sportello" || !strings.HasSuffix(f[6], "nologin") {
		t.Fatalf("sportello user: got %q, want home /var/lib/sportello and no login shell", pw)
	}
	uid, _ := strconv.Atoi(f[2])
	gid, _ := strconv.Atoi(f[3])
	if uid >= 1000 {
		t.Errorf("sportello uid %d: want a system uid below 1000", uid)
	}
	if u, g, m := owner("/var/lib/sportello"); int(u) != uid || int(g) != gid || m != os.ModeDir|0o700 {
		t.Errorf("/var/lib/sportello: got %d:%d %v, want %d:%d drwx------", u, g, m, uid, gid)
	}
	if u, g, m := owner("/etc/sportello/sportello.toml"); u != 0 || int(g) != gid || m != 0o640 {
		t.Errorf("/etc/sportello/sportello.toml: got %d:%d %v, want 0:%d -rw-r-----", u, g, m, gid)
	}
	if out, _ := in(true, "/usr/bin/sportello", "version"); !strings.HasPrefix(out, "sportello ") {
		t.Errorf("sportello version: got %q", out)
	}
	// The node's user reads the configuration the package installed.
	if out, err := in(false, "setpriv", "--reuid=sportello", "--regid=sportello", "--init-groups",
		"/usr/bin/sportello", "serve", "--config", "/etc/sportello/sportello.toml", "--check"); err != nil {
		t.Errorf("serve --check as sportello: %v\n%s", err, out)
	}

	// The administrator edits the configuration, the node writes data.
	conf, err := os.ReadFile(host("/etc/sportello/sportello.toml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := append(conf, []byte("\n# edited by the administrator\n")...)
	if err := os.WriteFile(host("/etc/sportello/sportello.toml"), edited, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(host("/var/lib/sportello/state.db"), []byte("bookings"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Upgrade: the edit and the data stay, and so do the modes.
	in(true, "dpkg", "-i", pkgs["1.4.3"])
	if got, _ := os.ReadFile(host("/etc/sportello/sportello.toml")); !bytes.Equal(got, edited) {
		t.Errorf("upgrade lost the administrator's edit of the conffile")
	}
	if u, g, m := owner("/etc/sportello/sportello.toml"); u != 0 || int(g) != gid || m != 0o640 {
		t.Errorf("after upgrade, sportello.toml: got %d:%d %v, want 0:%d -rw-r-----", u, g, m, gid)
	}
	if !exists("/var/lib/sportello/state.db") {
		t.Errorf("upgrade lost the data")
	}
	if out, _ := in(true, "dpkg-query", "-W", "-f", "${Version} ${Status}", "sportello"); out != "1.4.3 install ok installed" {
		t.Errorf("after upgrade: got %q", out)
	}

	// Remove: the program goes, data and configuration stay.
	in(true, "dpkg", "-r", "sportello")
	for p, want := range map[string]bool{
		"/usr/bin/sportello":                    false,
		"/lib/systemd/system/sportello.service": false,
		"/var/lib/sportello/state.db":           true,
		"/etc/sportello/sportello.toml":         true,
	} {
		if exists(p) != want {
			t.Errorf("after remove, %s exists: %v, want %v", p, !want, want)
		}
	}

	// Purge: the data and the configuration go too; the user stays.
	in(true, "dpkg", "-P", "sportello")
	for _, p := range []string{"/var/lib/sportello", "/etc/sportello/sportello.toml"} {
		if exists(p) {
			t.Errorf("after purge, %s still exists", p)
		}
	}
	if out, _ := in(false, "dpkg-statoverride", "--list", "/etc/sportello/sportello.toml"); strings.TrimSpace(out) != "" {
		t.Errorf("after purge, a stat override is left: %q", out)
	}
	if _, err := in(false, "getent", "passwd", "sportello"); err != nil {
		t.Errorf("purge removed the sportello user; files elsewhere may still belong to it")
	}
}
