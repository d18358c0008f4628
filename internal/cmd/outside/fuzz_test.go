package main

import (
	"bytes"
	"testing"
)

// FuzzExtractProgram: any doc.go text gives a program, nothing, or an
// error — never a panic — and a program found starts with package main.
func FuzzExtractProgram(f *testing.F) {
	f.Add([]byte("// Package p.\n//\n//\tpackage main\n//\n//\tfunc main() {}\npackage p\n"))
	f.Add([]byte("/*\nPackage p.\n\n\tpackage main\n\n\tfunc main() {}\n*/\npackage p\n"))
	f.Add([]byte("// Package p.\n//\n//\tpackage main\npackage p\n"))
	f.Add([]byte("package p\n"))
	f.Add([]byte("//\tpackage main\n// text\n//\tpackage main\npackage"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		prog, err := extractProgram(doc)
		if err == nil && prog != nil && !bytes.HasPrefix(prog, []byte("package main\n")) {
			t.Fatalf("program %q does not start with package main", prog)
		}
	})
}

// FuzzRequestPath: any program text gives a path, "not a server", or an
// error; a path returned is absolute and has no wildcard.
func FuzzRequestPath(f *testing.F) {
	f.Add([]byte("package main\n\nfunc main() { mux.Handle(\"GET /slo\", h); http.ListenAndServe(*addr, mux) }\n"))
	f.Add([]byte("package main\n\nfunc main() { c.Mount(mux); srv.ListenAndServe() }\n"))
	f.Add([]byte("package main\n\nfunc main() { http.HandleFunc(\"x\", f); srv.Serve(l) }\n"))
	f.Add([]byte("package main\n\nfunc main() { http.HandleFunc(\"GET /{id}\", f); srv.Serve(l) }\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		path, serves, err := requestPath(src)
		if err != nil || !serves {
			return
		}
		if len(path) == 0 || path[0] != '/' || bytes.ContainsAny([]byte(path), "{}") {
			t.Fatalf("requestPath = %q", path)
		}
	})
}
