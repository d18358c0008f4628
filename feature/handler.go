package feature

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the report. Query parameters:
//
//	format  html (default), md, csv or json
//	period  the period in days: "7", "7d", "30d", 1 to MaxPeriodDays
//	        (default p.Days)
//
// A bad parameter is a 400 whose body names it. Only GET and HEAD are
// served.
func (r *Registry) Handler(p Policy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "feature: method "+req.Method+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		f, pol, err := parseQuery(req, p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rep, err := r.Report(pol)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		if err := rep.Write(&buf, f); err != nil {
			http.Error(w, "feature: render report: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", f.ContentType())
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if f == HTML {
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		}
		if f == CSV {
			w.Header().Set("Content-Disposition", `attachment; filename="features.csv"`)
		}
		_, _ = w.Write(buf.Bytes())
	})
}

func parseQuery(req *http.Request, p Policy) (Format, Policy, error) {
	q := req.URL.Query()
	var errs []error
	f := HTML
	if v := q.Get("format"); v != "" {
		var err error
		if f, err = ParseFormat(v); err != nil {
			errs = append(errs, fmt.Errorf("feature: bad parameter format=%q: want html, md, csv or json", v))
		}
	}
	if v := q.Get("period"); v != "" {
		d, err := ParsePeriod(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("feature: bad parameter period=%q: %v", v, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")))
		}
		p.Days = d
	}
	return f, p, errors.Join(errs...)
}

// ParsePeriod parses a period in days: "7" or "7d", 1 to MaxPeriodDays.
func ParsePeriod(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || n < 1 || n > MaxPeriodDays {
		return 0, fmt.Errorf("%w: period %q, want whole days from 1 to %d such as 7d", ErrInvalid, s, MaxPeriodDays)
	}
	return n, nil
}

// ReportFile describes a report the registry writes to a file on a schedule
// (the weekly report), atomically replacing the previous one.
type ReportFile struct {
	Path   string
	Format Format        // "" means HTML
	Every  time.Duration // 0 means 7 days
	Policy Policy
}

func (f *ReportFile) validate() error {
	if f.Path == "" {
		return fmt.Errorf("%w: report file path is empty", ErrInvalid)
	}
	if f.Format == "" {
		f.Format = HTML
	}
	if _, err := ParseFormat(string(f.Format)); err != nil {
		return err
	}
	if f.Every == 0 {
		f.Every = 7 * 24 * time.Hour
	}
	if f.Every < 0 {
		return fmt.Errorf("%w: report interval %v, want > 0", ErrInvalid, f.Every)
	}
	return f.Policy.validate()
}

// WriteReportFile writes the report described by f now, mode 0600,
// creating its directory (0700) if needed.
func (r *Registry) WriteReportFile(f ReportFile) error {
	if err := f.validate(); err != nil {
		return err
	}
	rep, err := r.Report(f.Policy)
	if err != nil {
		return err
	}
	if err := writeFile(f.Path, func(w io.Writer) error { return rep.Write(w, f.Format) }); err != nil {
		return fmt.Errorf("feature: write report file: %w", err)
	}
	return nil
}
