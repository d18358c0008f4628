package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/opskit/opskit/benchmarks
cpu: Test CPU @ 2.00GHz   
BenchmarkRetrySuccess/opskit-2         	 1000000	        10.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetrySuccess/opskit-2         	 1000000	        30.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetrySuccess/opskit-2         	 1000000	        20.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetrySuccess/failsafe-go-2    	  100000	       200 ns/op	     600 B/op	      14 allocs/op
BenchmarkEnqueue/opskit/producers=8-2  	    1000	      5000 ns/op	  200000 msgs/s
BenchmarkEnqueue/dque/producers=8-2    	     100	     50000 ns/op	   20000 msgs/s
BenchmarkSkipped    --- SKIP: no database
PASS
`

func TestParseMediansAndNames(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if res.GOOS != "linux" || res.CPU != "Test CPU @ 2.00GHz" {
		t.Fatalf("header = %q %q, want linux and the cpu line", res.GOOS, res.CPU)
	}
	none := Figure{-1, -1, -1}
	want := []Row{
		{"RetrySuccess", "opskit", "", Figure{20, 10, 30}, Figure{0, 0, 0}, Figure{0, 0, 0}, 3},
		{"RetrySuccess", "failsafe-go", "", Figure{200, 200, 200}, Figure{600, 600, 600}, Figure{14, 14, 14}, 1},
		{"Enqueue", "opskit", "producers=8", Figure{5000, 5000, 5000}, none, none, 1},
		{"Enqueue", "dque", "producers=8", Figure{50000, 50000, 50000}, none, none, 1},
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(res.Rows), res.Rows, len(want))
	}
	for i := range want {
		if res.Rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, res.Rows[i], want[i])
		}
	}
}

func TestMarkdownRatiosAgainstOpskit(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	res.WriteMarkdown(&b, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), "go1.26.8")
	out := b.String()
	for _, want := range []string{
		"| · | failsafe-go | 200 | 600 | 14 | 10.00× (6.67–20.00) | 1 |",
		"| producers=8 | dque | 50000 | — | — | 10.00× | 1 |",
		"| · | opskit | 20.0 (10.0–30.0) | 0 | 0 | — | 3 |",
		"go1.26.8",
		"1 to 3 runs per benchmark",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

// The ratio's range is the widest the runs allow: the peer's fastest over
// opskit's slowest to the peer's slowest over opskit's fastest.
func TestRatioRange(t *testing.T) {
	in := `BenchmarkX/opskit-2 1 100 ns/op 8 B/op 1 allocs/op
BenchmarkX/peer-2 1 200 ns/op 16 B/op 2 allocs/op
BenchmarkX/opskit-2 1 200 ns/op 8 B/op 1 allocs/op
BenchmarkX/peer-2 1 300 ns/op 24 B/op 2 allocs/op
`
	res, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	res.WriteMarkdown(&b, time.Time{}, "go")
	out := b.String()
	for _, want := range []string{
		"| · | peer | 250 (200–300) | 20 (16–24) | 2 | 1.67× (1.00–3.00) | 2 |",
		"| · | opskit | 150 (100–200) | 8 | 1 | — | 2 |",
		"2 runs of each benchmark",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestParseRejectsMalformedValue(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkX/opskit-2 100 abc ns/op\n"))
	if err == nil || !strings.Contains(err.Error(), `"abc"`) {
		t.Fatalf("err = %v, want one naming the bad value", err)
	}
}

func TestSpliceKeepsTheRestOfTheFile(t *testing.T) {
	doc := splice(nil, []byte("T1\n"))
	doc = append(doc, "## Load test\nkept\n"...)
	doc = splice(doc, []byte("T2\n"))
	s := string(doc)
	if strings.Contains(s, "T1") || !strings.Contains(s, "T2") || !strings.Contains(s, "## Load test\nkept") {
		t.Fatalf("splice result:\n%s", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkA/b/c-4 1 1 ns/op 1 B/op\n")
	f.Add("BenchmarkA 1 NaN ns/op\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range res.Rows {
			if r.Runs < 1 || r.Thing == "" && r.Impl != "" {
				t.Fatalf("row %+v from %q", r, in)
			}
		}
		res.WriteMarkdown(&bytes.Buffer{}, time.Time{}, "go")
	})
}
