package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("OUTSIDE_TEST_SERVER"); mode != "" {
		helperServer(mode) // this binary is the program under test
		return
	}
	goleak.VerifyTestMain(m)
}

// helperServer is a doc program stand-in for the checkHTTP tests: it takes
// -addr like a doc program, and misbehaves as mode says.
func helperServer(mode string) {
	var addr string
	for i, a := range os.Args {
		if a == "-addr" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	switch mode {
	case "exit":
		os.Exit(3)
	case "wrong-addr":
		addr = "127.0.0.1:0"
	case "ignore-sigint":
		signal.Ignore(os.Interrupt)
	}
	status := http.StatusOK
	if mode == "500" {
		status = http.StatusInternalServerError
	}
	http.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintln(w, mode)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
	os.Exit(1)
}

func TestCheckHTTP(t *testing.T) {
	defer func(start, stop time.Duration) { startTimeout, stopTimeout = start, stop }(startTimeout, stopTimeout)
	startTimeout, stopTimeout = 3*time.Second, time.Second
	for _, tc := range []struct {
		mode   string
		status int
		err    string
	}{
		{"ok", 200, ""},
		{"500", 500, "answered 500"},
		{"exit", 0, "exited before listening"},
		{"wrong-addr", 0, "must listen on the address its -addr flag gives"},
		{"ignore-sigint", 200, "did not exit within 1s of SIGINT"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Setenv("OUTSIDE_TEST_SERVER", tc.mode)
			status, err := checkHTTP(context.Background(), os.Args[0], t.TempDir(), "/ping")
			if status != tc.status || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("checkHTTP = %d, %v; want %d and an error containing %q", status, err, tc.status, tc.err)
			}
		})
	}
}

func TestExtractProgram(t *testing.T) {
	doc := "// Package p does things.\n//\n//\tpackage main\n//\n//\timport \"fmt\"\n//\n//\tfunc main() {\n//\t\tfmt.Println(1)\n//\t}\n//\n// # Details\n//\n//\tnot.Part(of the program)\npackage p\n"
	got, err := extractProgram([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(1)\n}\n"
	if string(got) != want {
		t.Fatalf("program = %q, want %q", got, want)
	}
	for _, doc := range []string{"// Package p.\n//\n//\tx := fragment()\npackage p\n", "package p\n"} {
		if got, err := extractProgram([]byte(doc)); err != nil || got != nil {
			t.Errorf("extractProgram(%q) = %q, %v; want nil, nil", doc, got, err)
		}
	}
}

func TestRequestPath(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		path       string
		serves     bool
		err        string
	}{
		{"no server", `func main() { http.Handle("/x", nil) }`, "", false, ""},
		{"method pattern", `func main() { mux.Handle("GET /slo", h); mux.Handle("/b", h); http.ListenAndServe(*addr, mux) }`, "/slo", true, ""},
		{"plain pattern", `func main() { http.HandleFunc("/export", f); log.Fatal(http.ListenAndServe(*addr, nil)) }`, "/export", true, ""},
		{"mount only", `func main() { c.Mount(mux); srv.ListenAndServe() }`, "/livez", true, ""},
		{"wildcard", `func main() { mux.Handle("GET /items/{id}", h); srv.Serve(l) }`, "", true, "wildcard"},
		{"nothing to ask", `func main() { srv.ListenAndServe() }`, "", true, "no literal pattern"},
	} {
		path, serves, err := requestPath([]byte("package main\n\n" + tc.body + "\n"))
		if path != tc.path || serves != tc.serves || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: requestPath = %q, %v, %v; want %q, %v, error containing %q", tc.name, path, serves, err, tc.path, tc.serves, tc.err)
		}
	}
}

func TestCheckImportsRefusesInternalPackages(t *testing.T) {
	mods := []module{{path: "example.com/m"}, {path: "example.com/m/sub"}}
	ok := "package x\n\nimport (\n\t\"fmt\"\n\t\"example.com/m/clock\"\n\t\"example.com/other/internal/y\"\n)\n"
	if err := checkImports([]byte(ok), mods); err != nil {
		t.Fatalf("public imports: %v", err)
	}
	for _, imp := range []string{"example.com/m/internal/clock", "example.com/m/sub/internal", "example.com/m/a/internal/b"} {
		err := checkImports([]byte("package x\n\nimport _ \""+imp+"\"\n"), mods)
		if err == nil || !strings.Contains(err.Error(), imp) {
			t.Errorf("import %s: err = %v, want one naming it", imp, err)
		}
	}
}

// fixture is a small repository of two modules with documented packages.
func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                "module example.com/fix\n\ngo 1.22\n",
		"doc.go":                "// Package fix is the root; it has no program.\npackage fix\n",
		"greet/greet.go":        "package greet\n\n// Hello greets.\nfunc Hello(name string) string { return \"hello, \" + name }\n",
		"greet/doc.go":          "// Package greet greets.\n//\n//\tpackage main\n//\n//\timport (\n//\t\t\"flag\"\n//\t\t\"log\"\n//\t\t\"net/http\"\n//\n//\t\t\"example.com/fix/greet\"\n//\t)\n//\n//\tfunc main() {\n//\t\taddr := flag.String(\"addr\", \"127.0.0.1:8080\", \"listen address\")\n//\t\tflag.Parse()\n//\t\thttp.HandleFunc(\"GET /hello\", func(w http.ResponseWriter, r *http.Request) {\n//\t\t\tw.Write([]byte(greet.Hello(\"you\")))\n//\t\t})\n//\t\tlog.Fatal(http.ListenAndServe(*addr, nil))\n//\t}\npackage greet\n",
		"greet/example_test.go": "package greet_test\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/fix/greet\"\n)\n\nfunc ExampleHello() {\n\tfmt.Println(greet.Hello(\"Ada\"))\n\t// Output: hello, Ada\n}\n",
		"greet/greet_test.go":   "package greet\n\nimport \"testing\"\n\nfunc TestNotCopied(t *testing.T) {}\n",
		"internal/secret/s.go":  "package secret\n\nconst Word = \"x\"\n",
		"sub/go.mod":            "module example.com/fix/sub\n\ngo 1.22\n\nrequire example.com/fix v0.0.0\n\nreplace example.com/fix => ../\n",
		"sub/sub.go":            "package sub\n\nimport \"example.com/fix/greet\"\n\nfunc Twice(n string) string { return greet.Hello(n) + greet.Hello(n) }\n",
		"sub/doc.go":            "// Package sub.\n//\n//\tpackage main\n//\n//\timport (\n//\t\t\"fmt\"\n//\n//\t\t\"example.com/fix/sub\"\n//\t)\n//\n//\tfunc main() { fmt.Println(sub.Twice(\"x\")) }\npackage sub\n",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(root, name), content)
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The whole check on a fixture: it passes, then fails for each way a user
// copying the documentation would be let down.
func TestRunOnAFixtureRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module; skipped with -short")
	}
	ctx := context.Background()
	root := fixture(t)
	var out strings.Builder
	if err := run(ctx, &out, root, "", false, []string{"sub"}); err != nil {
		t.Fatalf("check of a good fixture: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"greet/doc.go program served GET /hello: 200",
		"3 packages, 2 doc programs (1 served HTTP), 1 example files; no doc.go program in: .",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	breakages := []struct {
		name, file, old, new, want string
	}{
		{"example imports internal", "greet/example_test.go", "\"example.com/fix/greet\"\n", "\"example.com/fix/greet\"\n\t_ \"example.com/fix/internal/secret\"\n", "imports example.com/fix/internal/secret"},
		{"example output wrong", "greet/example_test.go", "// Output: hello, Ada", "// Output: hi, Ada", "go test"},
		{"program does not compile", "greet/doc.go", "greet.Hello(\"you\")", "greet.Hi(\"you\")", "go vet"},
	}
	for _, b := range breakages {
		path := filepath.Join(root, b.file)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(orig), b.old) {
			t.Fatalf("%s: fixture lacks %q", b.name, b.old)
		}
		writeFile(t, path, strings.Replace(string(orig), b.old, b.new, 1))
		err = run(ctx, io.Discard, root, "greet", false, []string{"sub"})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want one containing %q", b.name, err, b.want)
		}
		writeFile(t, path, string(orig))
	}
}
