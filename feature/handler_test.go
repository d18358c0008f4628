package feature_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

func TestHandler(t *testing.T) {
	r, _ := catalogRegistry(t)
	h := r.Handler(feature.Policy{})
	tests := []struct {
		query    string
		code     int
		ctype    string
		contains []string
	}{
		{"", 200, "text/html; charset=utf-8", []string{"<!doctype html>", "never used", "<svg"}},
		{"?format=html&period=30d", 200, "text/html; charset=utf-8", []string{"(30 days, compared"}},
		{"?format=md", 200, "text/markdown; charset=utf-8", []string{"| search |", "(7 days)"}},
		{"?format=csv&period=14", 200, "text/csv; charset=utf-8", []string{"feature,owner"}},
		{"?format=json&period=1d", 200, "application/json", []string{`"days": 1`}},
		{"?format=xml", 400, "text/plain; charset=utf-8", []string{`format="xml"`, "html, md, csv or json"}},
		{"?period=0", 400, "text/plain; charset=utf-8", []string{`period="0"`, "1 to 45"}},
		{"?period=week", 400, "text/plain; charset=utf-8", []string{`period="week"`}},
		{"?period=46d&format=pdf", 400, "text/plain; charset=utf-8", []string{`period="46d"`, `format="pdf"`}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/features"+tt.query, nil))
			if rec.Code != tt.code || rec.Header().Get("Content-Type") != tt.ctype {
				t.Fatalf("code %d type %q, want %d %q; body %s", rec.Code, rec.Header().Get("Content-Type"), tt.code, tt.ctype, rec.Body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(rec.Body.String(), c) {
					t.Errorf("body lacks %q:\n%.400s", c, rec.Body)
				}
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/features", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
}

func TestScheduledReportAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "weekly.md")
	saved := make(chan string, 16)
	r, fc := newRegistry(t, feature.WithDir(dir), feature.WithSnapshotEvery(time.Hour),
		feature.WithReportFile(feature.ReportFile{Path: path, Format: feature.Markdown}),
		feature.WithOnSave(func(p string, err error) {
			if err != nil {
				t.Errorf("background write of %s: %v", p, err)
			}
			saved <- filepath.Base(p)
		}))
	define(t, r, "weekly-thing", start.Add(-60*day))
	fc.WaitForTimers(1)
	fc.Advance(time.Hour)
	if got := <-saved; got != "feature-test.snap" {
		t.Errorf("first background write %q, want the snapshot", got)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the weekly report was written before a week passed")
	}
	for {
		fc.WaitForTimers(1)
		fc.Advance(12 * time.Hour)
		if got := <-saved; got == "weekly.md" {
			break
		}
	}
	if now := fc.Now(); now.Before(start.Add(7 * day)) {
		t.Errorf("report written at %v, before a week passed", now)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "## Never used (1)") || !strings.Contains(string(b), "weekly\\-thing") {
		t.Errorf("weekly report: %v\n%s", err, b)
	}
	if err := r.WriteReportFile(feature.ReportFile{}); err == nil || !strings.Contains(err.Error(), "path is empty") {
		t.Errorf("WriteReportFile without a path = %v", err)
	}
}
