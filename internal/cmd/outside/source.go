package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// module is one Go module of the repository.
type module struct {
	path string // module path, e.g. github.com/opskit/opskit
	dir  string // absolute directory
	goV  string // its go directive
}

// modules reads the root module and the nested modules in extra.
func modules(root string, extra []string) ([]module, error) {
	var mods []module
	for _, rel := range append([]string{"."}, extra...) {
		dir := filepath.Join(root, rel)
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		m := module{dir: dir}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "module" {
				m.path = strings.Trim(f[1], `"`)
			}
			if len(f) == 2 && f[0] == "go" {
				m.goV = f[1]
			}
		}
		if m.path == "" {
			return nil, fmt.Errorf("%s/go.mod: no module line", rel)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// collect lists the public packages of mods (not internal, not commands)
// with their doc.go program and example_test.go.
func collect(ctx context.Context, root string, mods []module) ([]pkg, error) {
	var pkgs []pkg
	for _, m := range mods {
		out, err := goCmd(ctx, m.dir, "list", "-f", "{{.Name}}\t{{.ImportPath}}\t{{.Dir}}", "./...")
		if err != nil {
			return nil, fmt.Errorf("go list in %s: %v\n%s", m.dir, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 3 || f[0] == "main" || isInternal(f[1]) {
				continue
			}
			rel, err := filepath.Rel(root, f[2])
			if err != nil {
				return nil, err
			}
			p := pkg{rel: filepath.ToSlash(rel)}
			if b, err := os.ReadFile(filepath.Join(f[2], "doc.go")); err == nil {
				if p.program, err = extractProgram(b); err != nil {
					return nil, fmt.Errorf("%s/doc.go: %v", p.rel, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(f[2], "example_test.go")); err == nil {
				p.example = b
			}
			pkgs = append(pkgs, p)
		}
	}
	slices.SortFunc(pkgs, func(a, b pkg) int { return strings.Compare(a.rel, b.rel) })
	return pkgs, nil
}

func isInternal(importPath string) bool {
	return slices.Contains(strings.Split(importPath, "/"), "internal")
}

// extractProgram returns the complete program in a doc.go comment: the
// indented block of the package comment that starts with "package main",
// up to the first line that is neither indented nor empty. It returns nil
// when there is none.
func extractProgram(docGo []byte) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", docGo, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return nil, err
	}
	if f.Doc == nil {
		return nil, nil
	}
	lines := strings.Split(f.Doc.Text(), "\n")
	start := slices.Index(lines, "\tpackage main")
	if start < 0 {
		return nil, nil
	}
	var prog []string
	for _, l := range lines[start:] {
		if l != "" && !strings.HasPrefix(l, "\t") {
			break
		}
		prog = append(prog, strings.TrimPrefix(l, "\t"))
	}
	for len(prog) > 0 && prog[len(prog)-1] == "" {
		prog = prog[:len(prog)-1]
	}
	return []byte(strings.Join(prog, "\n") + "\n"), nil
}

// checkImports refuses code that imports an internal package of mods,
// which a user outside the module cannot do.
func checkImports(src []byte, mods []module) error {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.ImportsOnly)
	if err != nil {
		return err
	}
	var bad []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		for _, m := range mods {
			if (path == m.path || strings.HasPrefix(path, m.path+"/")) && isInternal(strings.TrimPrefix(path, m.path)) {
				bad = append(bad, path)
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("imports %s: internal packages cannot be imported outside the module (use the public clock package: github.com/opskit/opskit/clock)", strings.Join(bad, ", "))
	}
	return nil
}

// requestPath reports whether a program serves HTTP and which path the
// check requests: the first literal pattern passed to Handle or
// HandleFunc, without its method and host ("GET /slo" → "/slo"), or
// /livez for a program that only mounts health's handlers.
func requestPath(src []byte) (path string, serves bool, err error) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, 0)
	if err != nil {
		return "", false, err
	}
	var first string
	var mounts bool
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var name string
		switch fn := call.Fun.(type) {
		case *ast.SelectorExpr:
			name = fn.Sel.Name
		case *ast.Ident:
			name = fn.Name
		}
		switch name {
		case "ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS":
			serves = true
		case "Mount":
			mounts = true
		case "Handle", "HandleFunc":
			if first != "" || len(call.Args) == 0 {
				break
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				first, _ = strconv.Unquote(lit.Value)
			}
		}
		return true
	})
	if !serves {
		return "", false, nil
	}
	switch {
	case first != "":
		i := strings.Index(first, "/")
		if i < 0 {
			return "", true, fmt.Errorf("pattern %q has no path", first)
		}
		if strings.Contains(first, "{") {
			return "", true, fmt.Errorf("first pattern %q has a wildcard: register a literal path first, the check requests it", first)
		}
		return first[i:], true, nil
	case mounts:
		return "/livez", true, nil
	}
	return "", true, errors.New("serves HTTP but registers no literal pattern with Handle or HandleFunc for the check to request")
}
