package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
)

// pkgAPI is the exported API of one package.
type pkgAPI struct {
	rel                        string // path relative to the repository root; "." for the root
	lines                      []string
	funcs, types, consts, vars int
	methods, fields            int
}

// names is the count of top-level exported names.
func (p *pkgAPI) names() int { return p.funcs + p.types + p.consts + p.vars }

func (p *pkgAPI) render() []byte {
	var b bytes.Buffer
	name := p.rel
	if name == "." {
		name = "opskit"
	}
	fmt.Fprintf(&b, "# %s: %d names (%d func, %d type, %d const, %d var), %d methods, %d fields\n",
		name, p.names(), p.funcs, p.types, p.consts, p.vars, p.methods, p.fields)
	ls := slices.Clone(p.lines)
	slices.Sort(ls)
	ls = slices.Compact(ls)
	for _, l := range ls {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseDir reads the non-test Go files of dir that build on this platform.
// ok is false when dir holds no Go package.
func parseDir(dir, rel string) (p *pkgAPI, ok bool, err error) {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s: %w", rel, err)
	}
	if bp.Name == "main" {
		return nil, false, nil
	}
	fset := token.NewFileSet()
	p = &pkgAPI{rel: rel}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, false, err
		}
		stripParamNames(f)
		p.addFile(fset, f)
	}
	return p, true, nil
}

func (p *pkgAPI) add(format string, args ...any) {
	prefix := "pkg " + p.rel + ", "
	if p.rel == "." {
		prefix = "pkg opskit, "
	}
	p.lines = append(p.lines, prefix+fmt.Sprintf(format, args...))
}

func (p *pkgAPI) addFile(fset *token.FileSet, f *ast.File) {
	src := func(n ast.Node) string {
		var b strings.Builder
		printer.Fprint(&b, fset, n)
		// Multi-line literals (struct types in signatures) on one line.
		return strings.Join(strings.Fields(b.String()), " ")
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			sig := strings.TrimPrefix(src(d.Type), "func")
			if d.Recv == nil {
				p.funcs++
				p.add("func %s%s", d.Name.Name, sig)
				continue
			}
			recv := d.Recv.List[0].Type
			if !ast.IsExported(baseName(recv)) {
				continue
			}
			p.methods++
			p.add("method (%s) %s%s", src(recv), d.Name.Name, sig)
		case *ast.GenDecl:
			p.addGen(d, src)
		}
	}
}

func (p *pkgAPI) addGen(d *ast.GenDecl, src func(ast.Node) string) {
	var lastType ast.Expr // the type carried over by implicit repetition in a const group
	for _, spec := range d.Specs {
		switch s := spec.(type) {
		case *ast.TypeSpec:
			if !s.Name.IsExported() {
				continue
			}
			p.types++
			name := s.Name.Name
			if s.TypeParams != nil {
				name += src(s.TypeParams)
			}
			switch t := s.Type.(type) {
			case *ast.StructType:
				if s.Assign.IsValid() {
					p.add("type %s = %s", name, src(t))
					continue
				}
				p.add("type %s struct", name)
				for _, f := range t.Fields.List {
					if len(f.Names) == 0 {
						if ast.IsExported(baseName(f.Type)) {
							p.fields++
							p.add("type %s struct, embedded %s", name, src(f.Type))
						}
						continue
					}
					for _, n := range f.Names {
						if n.IsExported() {
							p.fields++
							p.add("type %s struct, %s %s", name, n.Name, src(f.Type))
						}
					}
				}
			case *ast.InterfaceType:
				if s.Assign.IsValid() {
					p.add("type %s = %s", name, src(t))
					continue
				}
				p.add("type %s interface", name)
				for _, m := range t.Methods.List {
					if len(m.Names) == 0 {
						p.add("type %s interface, embedded %s", name, src(m.Type))
						continue
					}
					for _, n := range m.Names {
						// An unexported method seals the interface: it is listed,
						// as part of the API, but not counted as a name.
						if n.IsExported() {
							p.methods++
						}
						p.add("type %s interface, %s%s", name, n.Name, strings.TrimPrefix(src(m.Type), "func"))
					}
				}
			default:
				if s.Assign.IsValid() {
					p.add("type %s = %s", name, src(t))
				} else {
					p.add("type %s %s", name, src(t))
				}
			}
		case *ast.ValueSpec:
			if s.Type != nil || len(s.Values) > 0 {
				lastType = s.Type
			}
			for i, n := range s.Names {
				if !n.IsExported() {
					continue
				}
				if d.Tok == token.CONST {
					p.consts++
					switch {
					case s.Type != nil:
						p.add("const %s %s", n.Name, src(s.Type))
					case len(s.Values) > i:
						p.add("const %s = %s", n.Name, src(s.Values[i]))
					case lastType != nil:
						p.add("const %s %s", n.Name, src(lastType))
					default:
						p.add("const %s", n.Name)
					}
					continue
				}
				p.vars++
				switch {
				case s.Type != nil:
					p.add("var %s %s", n.Name, src(s.Type))
				case len(s.Values) > i:
					p.add("var %s %s", n.Name, exprType(s.Values[i], src))
				default:
					p.add("var %s", n.Name)
				}
			}
		}
	}
}

// exprType guesses the type of a package variable's initial value without
// type-checking: enough for errors.New, composite literals and conversions.
func exprType(e ast.Expr, src func(ast.Node) string) string {
	switch v := e.(type) {
	case *ast.CallExpr:
		switch src(v.Fun) {
		case "errors.New", "fmt.Errorf":
			return "error"
		}
		return "= " + src(v.Fun) + "(...)"
	case *ast.CompositeLit:
		return src(v.Type)
	case *ast.UnaryExpr:
		if c, ok := v.X.(*ast.CompositeLit); ok && v.Op == token.AND {
			return "*" + src(c.Type)
		}
	}
	return "= " + src(e)
}

// baseName is the type name of a receiver or embedded field: T for T,
// *T, T[K], pkg.T.
func baseName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return baseName(t.X)
	case *ast.IndexExpr:
		return baseName(t.X)
	case *ast.IndexListExpr:
		return baseName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return ""
}

// stripParamNames removes parameter and result names from every function
// type in f, so renaming a parameter does not change the record.
func stripParamNames(f *ast.File) {
	ast.Inspect(f, func(n ast.Node) bool {
		if ft, ok := n.(*ast.FuncType); ok {
			ft.Params = unnamed(ft.Params)
			ft.Results = unnamed(ft.Results)
		}
		return true
	})
}

func unnamed(fl *ast.FieldList) *ast.FieldList {
	if fl == nil {
		return nil
	}
	out := &ast.FieldList{Opening: fl.Opening, Closing: fl.Closing}
	for _, f := range fl.List {
		n := max(len(f.Names), 1)
		for range n {
			out.List = append(out.List, &ast.Field{Type: f.Type})
		}
	}
	return out
}
