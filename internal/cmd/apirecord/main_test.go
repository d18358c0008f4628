package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tree writes files (path → content) under a new temporary directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const pkgA = `// Package a is a fixture.
package a

import "context"

// Kind is documented; the doc comment is not part of the record.
type Kind int

const (
	KindA Kind = iota
	KindB
	hidden
)

const Limit = 10

var ErrBad = errors.New("a: bad")

type T struct {
	Name string
	N, M int
	secret int
	Embedded
}

type Embedded struct{}

type Doer interface {
	Do(ctx context.Context, n int) (out string, err error)
	seal()
}

func New(ctx context.Context, name string, opts ...Option) (*T, error) { return nil, nil }

func (t *T) Run(f func(ctx context.Context) error) error { return nil }
func (t *T) unexported()                                  {}
func (k Kind) String() string                             { return "" }

type Option func(*T)

func Map[K comparable, V any](m map[K]V) []K { return nil }

type unexportedType struct{}

func (unexportedType) Exported() {}
`

func fixture(t *testing.T) string {
	return tree(t, map[string]string{
		"go.mod":                "module example.com/m\n",
		"doc.go":                "// Package m is the root.\npackage m\n",
		"a/a.go":                pkgA,
		"a/a_test.go":           "package a\n\nfunc TestOnly() {}\n",
		"a/internal/x/x.go":     "package x\n\nfunc Hidden() {}\n",
		"internal/y/y.go":       "package y\n\nfunc Hidden() {}\n",
		"cmd/tool/main.go":      "package main\n\nfunc main() {}\n",
		"other/go.mod":          "module example.com/other\n",
		"other/o.go":            "package other\n\nfunc NotRecorded() {}\n",
		"sub/mod/go.mod":        "module example.com/m/sub/mod\n",
		"sub/mod/p.go":          "package mod\n\nfunc Recorded(x int) {}\n",
		"a/testdata/fixture.go": "package fixture\n\nfunc Ignored() {}\n",
	})
}

func TestRecordListsExportedSignaturesOnly(t *testing.T) {
	root := fixture(t)
	recs, err := recordTree(root, []string{"sub/mod"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range recs {
		names = append(names, n)
	}
	if got, want := strings.Join(slices.Sorted(slices.Values(names)), " "), "a.txt opskit.txt sub_mod.txt"; got != want {
		t.Fatalf("record files = %s, want %s", got, want)
	}
	want := `# a: 11 names (2 func, 5 type, 3 const, 1 var), 3 methods, 4 fields
pkg a, const KindA Kind
pkg a, const KindB Kind
pkg a, const Limit = 10
pkg a, func Map[K comparable, V any](map[K]V) []K
pkg a, func New(context.Context, string, ...Option) (*T, error)
pkg a, method (*T) Run(func(context.Context) error) error
pkg a, method (Kind) String() string
pkg a, type Doer interface
pkg a, type Doer interface, Do(context.Context, int) (string, error)
pkg a, type Doer interface, seal()
pkg a, type Embedded struct
pkg a, type Kind int
pkg a, type Option func(*T)
pkg a, type T struct
pkg a, type T struct, M int
pkg a, type T struct, N int
pkg a, type T struct, Name string
pkg a, type T struct, embedded Embedded
pkg a, var ErrBad error
`
	if got := string(recs["a.txt"]); got != want {
		t.Fatalf("a.txt:\n%s\nwant:\n%s\ndiff:\n%s", got, want, diffLines([]byte(want), []byte(got)))
	}
	if got, want := string(recs["sub_mod.txt"]), "# sub/mod: 1 names (1 func, 0 type, 0 const, 0 var), 0 methods, 0 fields\npkg sub/mod, func Recorded(int)\n"; got != want {
		t.Fatalf("sub_mod.txt = %q, want %q", got, want)
	}
}

func TestCheckFailsWithADiffWhenASignatureChanges(t *testing.T) {
	root := fixture(t)
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, false); err != nil {
		t.Fatal(err)
	}
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, true); err != nil {
		t.Fatalf("check right after writing: %v", err)
	}
	before, err := os.ReadFile(filepath.Join(root, "api", "a.txt"))
	if err != nil {
		t.Fatal(err)
	}

	// Renaming a parameter or editing a doc comment is not an API change.
	src := strings.Replace(pkgA, "func New(ctx context.Context, name string", "func New(c context.Context, label string", 1)
	src = strings.Replace(src, "// Kind is documented", "// Kind is documented differently", 1)
	writeFile(t, filepath.Join(root, "a", "a.go"), src)
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, true); err != nil {
		t.Fatalf("check after renaming a parameter: %v", err)
	}

	// Changing a parameter's type is. (Lines come in record order.)
	writeFile(t, filepath.Join(root, "a", "a.go"), strings.Replace(src, "label string", "label []byte", 1))
	var out strings.Builder
	err = run(&out, root, "api", []string{"sub/mod"}, true)
	if err == nil {
		t.Fatal("check after changing a signature succeeded, want an error")
	}
	wantDiff := `--- a.txt (recorded)
+++ a.txt (code)
+pkg a, func New(context.Context, []byte, ...Option) (*T, error)
-pkg a, func New(context.Context, string, ...Option) (*T, error)
`
	if out.String() != wantDiff {
		t.Fatalf("diff:\n%s\nwant:\n%s", out.String(), wantDiff)
	}
	// The check does not write.
	after, _ := os.ReadFile(filepath.Join(root, "api", "a.txt"))
	if string(after) != string(before) {
		t.Fatal("check rewrote the record")
	}
}

func TestCheckReportsAddedRemovedAndNewPackages(t *testing.T) {
	root := fixture(t)
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, false); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "a", "more.go"), "package a\n\nfunc Added() {}\n")
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "b", "b.go"), "package b\n\ntype B struct{ X int }\n")
	if err := os.Remove(filepath.Join(root, "sub", "mod", "p.go")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(&out, root, "api", []string{"sub/mod"}, true); err == nil {
		t.Fatal("check succeeded, want an error")
	}
	for _, want := range []string{
		"-# a: 11 names (2 func, 5 type, 3 const, 1 var), 3 methods, 4 fields\n+# a: 12 names (3 func,",
		"+pkg a, func Added()\n",
		"+++ b.txt (code)\n+# b: 1 names",
		"+pkg b, type B struct, X int\n",
		"--- sub_mod.txt (recorded)\n+++ sub_mod.txt (code)\n-# sub/mod",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, out.String())
		}
	}
	// make api brings the record up to date, removing the stale file.
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "api", "sub_mod.txt")); !os.IsNotExist(err) {
		t.Fatalf("stale record not removed: %v", err)
	}
	if err := run(io.Discard, root, "api", []string{"sub/mod"}, true); err != nil {
		t.Fatalf("check after rewriting: %v", err)
	}
}

func TestParseErrorIsReported(t *testing.T) {
	root := tree(t, map[string]string{"go.mod": "module m\n", "p/p.go": "package p\n\nfunc Broken( {\n"})
	if err := run(io.Discard, root, "api", nil, true); err == nil || !strings.Contains(err.Error(), "p.go") {
		t.Fatalf("run on a broken file: err = %v, want one naming p.go", err)
	}
}
