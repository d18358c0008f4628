package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
)

// ReadAction is what the /audit view asks the Authorizer for.
const ReadAction Action = "audit.read"

// Page sizes of the /audit view.
const (
	defaultPage = 50
	maxPage     = 500
	maxQuery    = 256 // bytes of query string the view reads at most
)

// page is the JSON answer of the /audit view.
type page struct {
	Head    head    `json:"head"`
	Records []Entry `json:"records"`
	Older   string  `json:"older,omitempty"` // query of the previous page
	Newer   string  `json:"newer,omitempty"` // query of the next page
	Error   string  `json:"error,omitempty"` // the first record that did not verify
}

type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash,omitempty"`
}

// Handler serves the log as JSON to readers the guard allows for
// ReadAction: GET with ?limit=N (default 50, at most 500) and either
// ?before=SEQ (the records just before SEQ; the default is the newest
// page) or ?after=SEQ (the records just after SEQ). Records come oldest
// first, each verified against the chain as it is read; a record that does
// not verify ends the page with a 500 and an "error" naming it. The answer
// has links to the older and newer pages and the log's head.
func (l *Log) Handler(g *Guard) http.Handler {
	return viewHandler(g, func(_ context.Context, q pageQuery) (any, error) {
		p, err := l.page(q)
		if errors.Is(err, ErrTampered) {
			p.Error = err.Error()
		}
		return p, err
	})
}

// viewHandler serves the JSON pages read returns (the file Log's and the
// fleet trail's) to readers g allows for ReadAction. read answers the
// page, or the page up to a record that does not verify with an error
// matching ErrTampered (served with a 500), or another error (a 500
// without a page).
func viewHandler(g *Guard, read func(context.Context, pageQuery) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			refuse(w, http.StatusMethodNotAllowed, "audit: method "+quoteShort(r.Method)+" not allowed")
			return
		}
		if _, ok := g.Allow(w, r, ReadAction); !ok {
			return
		}
		q, err := parsePageQuery(r.URL.RawQuery)
		if err != nil {
			refuse(w, http.StatusBadRequest, err.Error())
			return
		}
		p, err := read(r.Context(), q)
		code := http.StatusOK
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				refuse(w, http.StatusInternalServerError, err.Error())
				return
			}
			code = http.StatusInternalServerError
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			_ = json.NewEncoder(w).Encode(p)
		}
	})
}

// pageQuery is a parsed /audit query. before 0 means the newest page.
type pageQuery struct {
	before, after uint64
	hasAfter      bool
	limit         int
}

// parsePageQuery reads limit, before and after; an unknown parameter, a
// repeated one or a bad number is an error naming it.
func parsePageQuery(raw string) (pageQuery, error) {
	q := pageQuery{limit: defaultPage}
	if len(raw) > maxQuery {
		return q, fmt.Errorf("audit: query is %d bytes, at most %d", len(raw), maxQuery)
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, fmt.Errorf("audit: bad query: %w", err)
	}
	for name, vs := range vals {
		if len(vs) != 1 {
			return q, fmt.Errorf("audit: query parameter %s given %d times", quoteShort(name), len(vs))
		}
		n, err := strconv.ParseUint(vs[0], 10, 64)
		if err != nil {
			return q, fmt.Errorf("audit: query parameter %s: %s is not a non-negative integer", quoteShort(name), quoteShort(vs[0]))
		}
		switch name {
		case "limit":
			if n < 1 || n > maxPage {
				return q, fmt.Errorf("audit: limit %d is not 1 to %d", n, maxPage)
			}
			q.limit = int(n)
		case "before":
			q.before = n
		case "after":
			q.after, q.hasAfter = n, true
		default:
			return q, fmt.Errorf("audit: unknown query parameter %s (want limit, before, after)", quoteShort(name))
		}
	}
	if vals.Has("before") && q.hasAfter {
		return q, errors.New("audit: give before or after, not both")
	}
	return q, nil
}

// page reads the records q asks for from a consistent view of the file.
func (l *Log) page(q pageQuery) (page, error) {
	l.mu.Lock()
	seq, size, hsum := l.seq, l.size, l.head
	index := l.index[:len(l.index):len(l.index)]
	l.mu.Unlock()
	p := page{Head: head{Seq: seq}, Records: []Entry{}}
	if seq > 0 {
		p.Head.Hash = fmt.Sprintf("%x", hsum)
	}
	// first..last is the range to show, 1-based and inclusive.
	var first, last uint64
	if q.hasAfter {
		first, last = q.after+1, min(q.after+uint64(q.limit), seq)
	} else {
		before := q.before
		if before == 0 || before > seq+1 {
			before = seq + 1
		}
		last = before - 1
		if last >= uint64(q.limit) {
			first = last - uint64(q.limit) + 1
		} else {
			first = 1
		}
	}
	if first > last || seq == 0 {
		if first > 1 {
			p.Older = fmt.Sprintf("before=%d&limit=%d", min(first, seq+1), q.limit)
		}
		return p, nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return p, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	pt := index[(first-1)/indexEvery]
	start := (first - 1) / indexEvery * indexEvery
	rd := resume(io.NewSectionReader(f, pt.offset, size-pt.offset), l.key, start, pt.offset, pt.prev)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return p, fmt.Errorf("audit: %s ends before record %d", l.path, last)
		}
		if err != nil {
			return p, err
		}
		if e.Seq >= first {
			p.Records = append(p.Records, e)
		}
		if e.Seq == last {
			break
		}
	}
	if first > 1 {
		p.Older = fmt.Sprintf("before=%d&limit=%d", first, q.limit)
	}
	if last < seq {
		p.Newer = fmt.Sprintf("after=%d&limit=%d", last, q.limit)
	}
	return p, nil
}
