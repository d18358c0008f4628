// Command apirecord writes the exported API of every public package of
// opskit to api/, one file per package, or checks that api/ matches the
// code. The record lists exported signatures only (no doc comments, no
// parameter names), one per line and sorted, under a line counting the
// package's names, so every change of the API shows up as a diff in review.
//
//	go run ./internal/cmd/apirecord          # rewrite api/ (make api)
//	go run ./internal/cmd/apirecord -check   # fail with a diff if api/ is stale (make test)
//
// Run it from the repository root. The packages are those of the library
// module outside internal/, plus postgres (a module of its own).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// extraModules are nested modules whose packages belong to the record.
var extraModules = []string{"postgres"}

func main() {
	check := flag.Bool("check", false, "compare api/ with the code instead of writing it; exit 1 with a diff when they differ")
	root := flag.String("root", ".", "repository root")
	out := flag.String("dir", "api", "record directory, relative to -root")
	flag.Parse()
	if err := run(os.Stdout, *root, *out, extraModules, *check); err != nil {
		fmt.Fprintln(os.Stderr, "apirecord:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, root, out string, extra []string, check bool) error {
	recs, err := recordTree(root, extra)
	if err != nil {
		return err
	}
	dir := out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, out)
	}
	if check {
		diff, err := compare(dir, recs)
		if err != nil {
			return err
		}
		if diff != "" {
			fmt.Fprint(w, diff)
			return errors.New("the exported API differs from " + out + "/ (above: - recorded, + code); review it, then run make api and commit " + out + "/")
		}
		return nil
	}
	return write(dir, recs)
}

// recordTree returns the record of every public package under root, by file
// name (api/<path with / as _>.txt).
func recordTree(root string, extra []string) (map[string][]byte, error) {
	var dirs []string
	walk := func(top string) error {
		return filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			name := d.Name()
			if rel != top && (name == "internal" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if rel != top && rel != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module: only those in extra
				}
			}
			dirs = append(dirs, rel)
			return nil
		})
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	for _, m := range extra {
		if err := walk(m); err != nil {
			return nil, err
		}
	}
	recs := map[string][]byte{}
	for _, rel := range dirs {
		p, ok, err := parseDir(filepath.Join(root, rel), rel)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		recs[fileName(rel)] = p.render()
	}
	return recs, nil
}

func fileName(rel string) string {
	if rel == "." {
		return "opskit.txt"
	}
	return strings.ReplaceAll(rel, "/", "_") + ".txt"
}

func write(dir string, recs map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, ok := recs[filepath.Base(f)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, b := range recs {
		// 0644: a source file of the repository, read by reviewers and CI.
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// compare returns a diff of the recorded files against recs, empty when
// they agree.
func compare(dir string, recs map[string][]byte) (string, error) {
	names := map[string]bool{}
	for n := range recs {
		names[n] = true
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return "", err
	}
	for _, f := range old {
		names[filepath.Base(f)] = true
	}
	var out strings.Builder
	for _, n := range slices.Sorted(maps.Keys(names)) {
		recorded, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if d := diffLines(recorded, recs[n]); d != "" {
			fmt.Fprintf(&out, "--- %s (recorded)\n+++ %s (code)\n%s", n, n, d)
		}
	}
	return out.String(), nil
}

// diffLines compares two records. Records are sorted line sets (apart from
// the count line, which comes first), so a merge of the two sorted lists
// is the diff.
func diffLines(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := lines(a), lines(b)
	var out strings.Builder
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			i, j = i+1, j+1
		case i < len(al) && j < len(bl) && strings.HasPrefix(al[i], "#") && strings.HasPrefix(bl[j], "#"):
			out.WriteString("-" + al[i] + "\n+" + bl[j] + "\n")
			i, j = i+1, j+1
		case j >= len(bl) || (i < len(al) && lineLess(al[i], bl[j])):
			out.WriteString("-" + al[i] + "\n")
			i++
		default:
			out.WriteString("+" + bl[j] + "\n")
			j++
		}
	}
	return out.String()
}

// lineLess orders lines as records do: the count line ("#") first.
func lineLess(a, b string) bool {
	ah, bh := strings.HasPrefix(a, "#"), strings.HasPrefix(b, "#")
	if ah != bh {
		return ah
	}
	return a < b
}

func lines(b []byte) []string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
