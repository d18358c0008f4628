package queuetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/queue"
)

// testRelease: "not now" gives a delivery back without spending its
// attempt, even its last one.
func testRelease(e *env) {
	e.enqueue("a")
	m := e.receiveWant("a", 1)
	if err := e.b.Release(e.ctx, m, 10*time.Second); err != nil {
		e.t.Fatalf("Release: %v", err)
	}
	e.empty()
	if err := e.b.Ack(e.ctx, m); !errors.Is(err, queue.ErrLeaseLost) {
		e.t.Fatalf("Ack after Release = %v, want ErrLeaseLost", err)
	}
	if err := e.b.Release(e.ctx, m, 0); !errors.Is(err, queue.ErrLeaseLost) {
		e.t.Fatalf("second Release = %v, want ErrLeaseLost", err)
	}
	e.clk.Advance(10*time.Second - time.Millisecond)
	e.empty()
	e.clk.Advance(time.Millisecond)
	m = e.receiveWant("a", 1) // the attempt was not spent
	for attempt := 1; attempt < policy().MaxAttempts; attempt++ {
		if err := e.b.Nack(e.ctx, m, errors.New("down")); err != nil {
			e.t.Fatalf("Nack: %v", err)
		}
		e.clk.Advance(policy().Delay(attempt))
		m = e.receiveWant("a", attempt+1)
	}
	// On its last attempt, a release does not dead-letter it either.
	if err := e.b.Release(e.ctx, m, 0); err != nil {
		e.t.Fatalf("Release(0): %v", err)
	}
	m = e.receiveWant("a", policy().MaxAttempts)
	if err := e.b.Release(e.ctx, m, math.MaxInt64); err != nil {
		e.t.Fatalf("Release(MaxInt64) = %v, want nil (capped)", err)
	}
	e.clk.Advance(365 * 24 * time.Hour)
	e.empty()
	if s := e.stats(); s.Dead != 0 || s.Depth != 1 {
		e.t.Fatalf("Stats = %+v, want Depth 1 Dead 0", s)
	}
}

// testWaitBounds: durations that would overflow time arithmetic are
// rejected or clamped, never wrapped into the past.
func testWaitBounds(e *env) {
	huge := time.Duration(math.MaxInt64)
	for name, opt := range map[string]queue.EnqueueOption{
		"WithDelay(MaxInt64)":     queue.WithDelay(huge),
		"WithNotBefore(far away)": queue.WithNotBefore(start.Add(huge).Add(huge)),
	} {
		if _, err := e.b.Enqueue(e.ctx, []byte(name), opt); err == nil {
			e.clk.Advance(time.Hour)
			if m, err := e.b.TryReceive(e.ctx, vis); err == nil {
				e.t.Fatalf("%s: delivered %q an hour later, want held back or refused", name, m.Payload)
			}
		}
	}
	e.empty()
	e.enqueue("v")
	lease := func(m *queue.Message) {
		e.t.Helper()
		e.clk.Advance(365 * 24 * time.Hour)
		e.empty() // still leased: a second consumer must not get it
		e.ack(m)
	}
	if m, err := e.b.TryReceive(e.ctx, huge); err == nil {
		lease(m)
		e.enqueue("v")
	} else if errors.Is(err, queue.ErrEmpty) {
		e.t.Fatalf("TryReceive(MaxInt64) = ErrEmpty with a message ready, want it or a bad-visibility error")
	}
	m := e.receiveWant("v", 1)
	if err := e.b.Extend(e.ctx, m, -time.Second); err == nil {
		e.t.Fatal("Extend(-1s) = nil, want an error")
	}
	if err := e.b.Extend(e.ctx, m, huge); err == nil {
		lease(m)
	} else {
		e.ack(m)
	}
}

// testIDText: an id has one textual form, in JSON too.
func testIDText(e *env) {
	id := e.enqueue("a")
	if err := e.b.Reject(e.ctx, e.receive(), errors.New("bad")); err != nil {
		e.t.Fatal(err)
	}
	dead := e.dead(queue.DeadFilter{})
	b, err := json.Marshal(dead[0])
	if err != nil {
		e.t.Fatal(err)
	}
	if want := `"id":"` + id.String() + `"`; !strings.Contains(string(b), want) {
		e.t.Fatalf("JSON %s, want it to contain %s", b, want)
	}
	var back queue.DeadLetter
	if err := json.Unmarshal(b, &back); err != nil || back.ID != id {
		e.t.Fatalf("JSON round trip = %s, %v; want %s", back.ID, err, id)
	}
	if got, err := queue.ParseID(id.String()); err != nil || got != id {
		e.t.Fatalf("ParseID(%q) = %s, %v", id.String(), got, err)
	}
	if _, err := queue.ParseID(strconv.FormatUint(uint64(id), 10)); err == nil {
		e.t.Fatalf("ParseID(decimal %d) = nil error, want the form refused", id)
	}
}

func (e *env) dead(f queue.DeadFilter) []queue.DeadLetter {
	e.t.Helper()
	d, err := e.b.DeadLetters(e.ctx, f)
	if err != nil {
		e.t.Fatalf("DeadLetters(%+v): %v", f, err)
	}
	return d
}

// deadSet makes five dead letters, a minute apart from start: reasons
// "timeout: a", "timeout: b", "bad input", "timeout: c", "bad input 2".
func (e *env) deadSet() []queue.ID {
	e.t.Helper()
	reasons := []string{"timeout: a", "timeout: b", "bad input", "timeout: c", "bad input 2"}
	ids := make([]queue.ID, len(reasons))
	for i := range reasons {
		ids[i] = e.enqueue(fmt.Sprint("d", i))
	}
	for i, r := range reasons {
		if i > 0 {
			e.clk.Advance(time.Minute)
		}
		m := e.receiveWant(fmt.Sprint("d", i), 1)
		if err := e.b.Reject(e.ctx, m, errors.New(r)); err != nil {
			e.t.Fatalf("Reject: %v", err)
		}
	}
	return ids
}

func (e *env) wantDead(f queue.DeadFilter, want ...queue.ID) {
	e.t.Helper()
	got := e.dead(f)
	ids := make([]queue.ID, len(got))
	for i, d := range got {
		ids[i] = d.ID
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		e.t.Fatalf("DeadLetters(%+v) = %v, want %v", f, ids, want)
	}
}

func testDeadFilters(e *env) {
	ids := e.deadSet()
	e.wantDead(queue.DeadFilter{}, ids...)
	e.wantDead(queue.DeadFilter{Limit: 2}, ids[0], ids[1])
	e.wantDead(queue.DeadFilter{After: ids[1], Limit: 2}, ids[2], ids[3])
	e.wantDead(queue.DeadFilter{After: ids[3], Limit: 2}, ids[4])
	e.wantDead(queue.DeadFilter{Reason: "timeout"}, ids[0], ids[1], ids[3])
	e.wantDead(queue.DeadFilter{Since: start.Add(time.Minute), Until: start.Add(3 * time.Minute)}, ids[1], ids[2])
	e.wantDead(queue.DeadFilter{Reason: "bad", Since: start.Add(3 * time.Minute)}, ids[4])
	e.wantDead(queue.DeadFilter{Reason: "timeout", Limit: 1, After: ids[0]}, ids[1])
	if d := e.dead(queue.DeadFilter{Limit: 1})[0]; !d.DeadAt.Equal(start) || d.Reason != "timeout: a" || string(d.Payload) != "d0" {
		e.t.Fatalf("first dead letter = %+v, want d0 dead at %v for timeout: a", d, start)
	}
	for _, f := range []queue.DeadFilter{{Limit: -1}, {Since: start, Until: start.Add(-time.Second)}} {
		if _, err := e.b.DeadLetters(e.ctx, f); err == nil {
			e.t.Errorf("DeadLetters(%+v) = nil error, want the bad field named", f)
		}
	}
}

func testBulkDead(e *env) {
	ids := e.deadSet()
	n, err := e.b.RequeueDead(e.ctx, queue.DeadFilter{Reason: "timeout", Limit: 2})
	if err != nil || n != 2 {
		e.t.Fatalf("RequeueDead(timeout, limit 2) = %d, %v; want 2", n, err)
	}
	e.wantDead(queue.DeadFilter{}, ids[2], ids[3], ids[4])
	n, err = e.b.RequeueDead(e.ctx, queue.DeadFilter{Reason: "timeout"})
	if err != nil || n != 1 {
		e.t.Fatalf("RequeueDead(timeout) = %d, %v; want 1", n, err)
	}
	for _, p := range []string{"d0", "d1", "d3"} {
		e.ack(e.receiveWant(p, 1)) // attempts reset
	}
	e.empty()
	n, err = e.b.PurgeDead(e.ctx, queue.DeadFilter{Until: start.Add(3 * time.Minute)})
	if err != nil || n != 1 {
		e.t.Fatalf("PurgeDead(until +3m) = %d, %v; want 1", n, err)
	}
	e.wantDead(queue.DeadFilter{}, ids[4])
	if n, err = e.b.PurgeDead(e.ctx, queue.DeadFilter{}); err != nil || n != 1 {
		e.t.Fatalf("PurgeDead(all) = %d, %v; want 1", n, err)
	}
	if n, err = e.b.RequeueDead(e.ctx, queue.DeadFilter{}); err != nil || n != 0 {
		e.t.Fatalf("RequeueDead with none = %d, %v; want 0, nil", n, err)
	}
	if _, err := e.b.PurgeDead(e.ctx, queue.DeadFilter{Limit: -1}); err == nil {
		e.t.Fatal("PurgeDead(Limit -1) = nil error")
	}
	if s := e.stats(); s.Dead != 0 || s.Depth != 0 {
		e.t.Fatalf("Stats = %+v, want empty", s)
	}
}

// testDeadHandler: the operator's HTTP view over the dead letters, behind
// an authoriser, audited; an id copied from the list requeues that very
// message.
func testDeadHandler(e *env) {
	ids := e.deadSet()
	sink := &audittest.Recorder{}
	h := queue.DeadLetterHandler(e.b, &audit.Guard{
		Authorize: func(r *http.Request, a audit.Action) (string, error) {
			switch r.Header.Get("Authorization") {
			case "Bearer op":
				return "op", nil
			case "Bearer support":
				if a == "queue.read" {
					return "support", nil
				}
				return "", audit.ErrForbidden
			}
			return "", audit.ErrUnauthenticated
		},
		Sink: sink,
	})
	do := func(method, target, who string, hdr ...string) *httptest.ResponseRecorder {
		e.t.Helper()
		r := httptest.NewRequest(method, target, nil)
		if who != "" {
			r.Header.Set("Authorization", "Bearer "+who)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	want := func(w *httptest.ResponseRecorder, code int) {
		e.t.Helper()
		if w.Code != code {
			e.t.Fatalf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), code)
		}
	}

	want(do("GET", "/", ""), http.StatusUnauthorized)
	want(do("POST", "/"+ids[0].String()+"/requeue", "support"), http.StatusForbidden)
	want(do("POST", "/"+ids[0].String()+"/requeue", "op", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	want(do("POST", "/"+ids[0].String()+"/requeue", "op", "Origin", "http://evil.example"), http.StatusForbidden)
	want(do("GET", "/", "op"), http.StatusOK)
	want(do("GET", "/?limit=0", "op"), http.StatusBadRequest)
	want(do("GET", "/?bogus=1", "op"), http.StatusBadRequest)
	want(do("GET", "/"+ids[0].String()+"/requeue", "op"), http.StatusMethodNotAllowed)
	want(do("POST", "/3/requeue", "op"), http.StatusBadRequest) // not the 16-digit form
	if len(e.dead(queue.DeadFilter{})) != len(ids) {
		e.t.Fatal("a refused request changed the dead letters")
	}
	nobody := queue.DeadLetterHandler(e.b, nil)
	w := httptest.NewRecorder()
	nobody.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	want(w, http.StatusForbidden)

	// Page through the list by its "next" cursor, as a client would.
	var listed []string
	next := ""
	for range len(ids) + 1 {
		target := "/?limit=2&reason=timeout"
		if next != "" {
			target += "&after=" + next
		}
		w := do("GET", target, "support")
		want(w, http.StatusOK)
		var page struct {
			DeadLetters []struct {
				ID      string `json:"id"`
				Payload []byte `json:"payload"`
			} `json:"dead_letters"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			e.t.Fatalf("list: %v in %s", err, w.Body)
		}
		for _, d := range page.DeadLetters {
			listed = append(listed, d.ID+"="+string(d.Payload))
		}
		if next = page.Next; next == "" {
			break
		}
	}
	wantList := fmt.Sprint([]string{ids[0].String() + "=d0", ids[1].String() + "=d1", ids[3].String() + "=d3"})
	if fmt.Sprint(listed) != wantList {
		e.t.Fatalf("listed %v, want %v", listed, wantList)
	}

	// The id as listed requeues that very message.
	copied := strings.SplitN(listed[1], "=", 2)[0]
	want(do("POST", "/"+copied+"/requeue", "op"), http.StatusOK)
	m := e.receive()
	if m.ID.String() != copied || string(m.Payload) != "d1" || m.Attempt != 1 {
		e.t.Fatalf("after requeue of %s received %s %q attempt %d, want that message at attempt 1", copied, m.ID, m.Payload, m.Attempt)
	}
	e.ack(m)
	want(do("POST", "/"+copied+"/requeue", "op"), http.StatusNotFound)
	want(do("POST", "/"+ids[2].String()+"/purge", "op"), http.StatusOK)
	want(do("POST", "/purge", "op"), http.StatusBadRequest) // no selection: all=true must be said
	w = do("POST", "/requeue?reason=timeout", "op")
	want(w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"count":2`) {
		e.t.Fatalf("bulk requeue answered %s, want count 2", w.Body)
	}
	w = do("POST", "/purge?all=true", "op")
	want(w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"count":1`) {
		e.t.Fatalf("purge all answered %s, want count 1", w.Body)
	}
	if d := e.dead(queue.DeadFilter{}); len(d) != 0 {
		e.t.Fatalf("dead letters left: %+v", d)
	}

	// One record per allowed request, none for the refused ones.
	recs := sink.Records()
	var got []string
	for _, r := range recs {
		got = append(got, r.Actor+" "+string(r.Action)+" "+r.Result)
	}
	wantRecs := []string{
		"op queue.read ok", // the first GET /
		"support queue.read ok", "support queue.read ok",
		"op queue.requeue ok",
		"op queue.requeue " + recs[min(4, len(recs)-1)].Result, // not found: the error
		"op queue.purge ok", "op queue.requeue ok", "op queue.purge ok",
	}
	if fmt.Sprint(got) != fmt.Sprint(wantRecs) {
		e.t.Fatalf("audit records %q, want %q", got, wantRecs)
	}
	if r := recs[3]; r.Target != copied || r.From == "" {
		e.t.Fatalf("requeue record %+v, want target %s and a remote address", r, copied)
	}
	if r := recs[4]; !strings.Contains(r.Result, "no such dead letter") {
		e.t.Fatalf("record of a requeue that found nothing: %+v, want its error", r)
	}
}
