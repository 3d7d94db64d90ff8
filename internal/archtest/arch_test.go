package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sportello-virtuale/sportello"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Name       string
}

// listPackages asks the go tool for every package of the module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages, want the whole module", len(pkgs))
	}
	return pkgs
}

// layer returns the architectural layer of a package of the module, and
// the top-level folder it lives in.
func layer(path string) (layer int, top string) {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	parts := strings.Split(rel, "/")
	top = parts[0]
	switch {
	case top == "cmd":
		return 4, top
	case len(parts) > 1 && (parts[1] == "web" || parts[1] == "site"):
		return 3, top
	case top == "booking" || top == "queue" || top == "media" || top == "auth":
		return 2, top
	case top == "tenant":
		return 1, top
	case top == "cluster":
		return 0, top
	}
	return -1, top // internal helpers and the root: no layer
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from, fromTop := layer(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to, toTop := layer(imp)
			if from < 0 || to < 0 {
				continue
			}
			if to > from {
				t.Errorf("%s imports %s: imports must flow cmd → */web → {booking, queue, media, auth} → tenant → cluster", p.ImportPath, imp)
			}
			if fromTop == "media" && (toTop == "booking" || toTop == "queue") {
				t.Errorf("%s imports %s: media knows rooms and participants, not bookings or tickets", p.ImportPath, imp)
			}
			if to == from && to == 3 && fromTop != toTop && toTop != "tenant" {
				t.Errorf("%s imports %s: web packages must not import each other's handlers", p.ImportPath, imp)
			}
		}
	}
}

// speaksHTTP lists the lower-layer packages whose job includes HTTP:
// media/docs sniffs uploads with http.DetectContentType and owns the
// upload and download handlers, whose limits and headers are part of its
// security; cluster relays a request (a call's WebSocket) to the node that
// holds the room, over the nodes' mutual-TLS link, without reading it.
func speaksHTTP(path string) bool {
	return path == module+"/media/docs" || path == module+"/cluster"
}

func TestDomainPackagesAvoidHTTP(t *testing.T) {
	for _, p := range listPackages(t) {
		l, _ := layer(p.ImportPath)
		if l < 0 || l > 2 || speaksHTTP(p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "net/http" || strings.HasPrefix(imp, "net/http/") {
				t.Errorf("%s imports %s: domain packages do not speak HTTP; move the code to a web package", p.ImportPath, imp)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment: add a doc.go that says what lives there", p.ImportPath)
		}
	}
}
