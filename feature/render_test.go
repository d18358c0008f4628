package feature_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opskit/opskit/feature"
)

const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&|` + "\n" + `=HYPERLINK("http://evil")`

func hostileReport(t *testing.T) *feature.Report {
	t.Helper()
	r, _ := newRegistry(t)
	f, err := r.Define("evil<b>|name", hostile, start.Add(-90*day), hostile)
	if err != nil {
		t.Fatal(err)
	}
	f.Use(r.WithTenant(context.Background(), hostile))
	if _, err := r.Define("=cmd|' /C calc'!A0", "@owner", start.Add(-90*day), "-2+3"); err != nil {
		t.Fatal(err)
	}
	r.UseName(context.Background(), "<svg onload=alert(3)>")
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func render(t *testing.T, rep *feature.Report, f feature.Format) string {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.Write(&buf, f); err != nil {
		t.Fatalf("Write(%s): %v", f, err)
	}
	return buf.String()
}

func TestHTMLEscapesEverything(t *testing.T) {
	out := render(t, hostileReport(t), feature.HTML)
	for _, bad := range []string{"<script", "<img", "<svg onload", "<b>|name", "onerror=alert(2)>"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "evil&lt;b&gt;|name", "&lt;svg onload=alert(3)&gt;", "<svg width=\"120\"", "<polyline points=\""} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, external := range []string{"http://", "https://", "<link", " src=\"", "url("} {
		if strings.Contains(strings.ReplaceAll(out, "http://evil", ""), external) {
			t.Errorf("HTML is not self-contained: found %q", external)
		}
	}
}

func TestMarkdownEscapes(t *testing.T) {
	out := render(t, hostileReport(t), feature.Markdown)
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "| evil") {
			continue
		}
		// An escaped pipe is "\|"; count the unescaped ones: 14 cell borders.
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 14 {
			t.Errorf("row has %d unescaped pipes, want 14: %s", n, line)
		}
	}
	for _, bad := range []string{"<script", "<svg", "<b>"} {
		if strings.Contains(out, bad) {
			t.Errorf("Markdown contains raw HTML %q", bad)
		}
	}
	for _, want := range []string{"# Feature usage", "## Never used (1)", "## Rarely used or not used in the period (1)", "## Declining (0)", "## New (1)", "## Catalog drift (1)", "## Method", `evil&lt;b&gt;\|name`} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

func TestCSVGuardsFormulas(t *testing.T) {
	out := render(t, hostileReport(t), feature.CSV)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(rows) != 5 || rows[0][0] != "headline" || !strings.Contains(rows[0][1], "% of features rarely or never used") {
		t.Fatalf("rows = %d, first %v; want the headline, header, 2 features, 1 drift row", len(rows), rows[0])
	}
	rows = rows[1:]
	if rows[0][0] != "feature" || len(rows[0]) != 23 || rows[0][11] != "tenants_err" {
		t.Fatalf("header %v", rows[0])
	}
	for _, row := range rows[1:] {
		for _, c := range row {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("cell %q would be evaluated as a formula", c)
			}
		}
	}
	if rows[1][0] != "evil<b>|name" || rows[1][1] != hostile[:len(hostile)-len(`=HYPERLINK("http://evil")`)]+`=HYPERLINK("http://evil")` {
		t.Errorf("feature row = %q, want the values kept, only guarded", rows[1][:2])
	}
	if rows[2][0] != `'=cmd|' /C calc'!A0` || rows[2][1] != "'@owner" || rows[2][2] != "'-2+3" {
		t.Errorf("formula cells = %q", rows[2][:3])
	}
	if rows[3][4] != "drift" {
		t.Errorf("drift row = %q", rows[3])
	}
}

func TestJSONRoundTrips(t *testing.T) {
	rep := hostileReport(t)
	var back feature.Report
	if err := json.Unmarshal([]byte(render(t, rep, feature.JSON)), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary != rep.Summary || len(back.Features) != 2 || back.Features[0].Owner != hostile || back.Drift[0].Name != "<svg onload=alert(3)>" {
		t.Errorf("JSON round trip = %+v", back)
	}
}

func TestFormatParsing(t *testing.T) {
	for give, want := range map[string]feature.Format{"html": feature.HTML, "MD": feature.Markdown, "markdown": feature.Markdown, "csv": feature.CSV, "json": feature.JSON} {
		if got, err := feature.ParseFormat(give); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", give, got, err)
		}
	}
	if _, err := feature.ParseFormat("pdf"); !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("ParseFormat(pdf) = %v", err)
	}
	if err := hostileReport(t).Write(&bytes.Buffer{}, "pdf"); !errors.Is(err, feature.ErrInvalid) {
		t.Errorf("Write(pdf) = %v", err)
	}
	if feature.CSV.ContentType() != "text/csv; charset=utf-8" || feature.JSON.ContentType() != "application/json" {
		t.Error("content types")
	}
}
