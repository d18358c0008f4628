package slo

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func FuzzReadIncidentLog(f *testing.F) {
	rec := IncidentRecord{Change: "opened", At: time.Unix(1e9, 0).UTC(), Incident: Incident{ID: "a/page-1h/x", Objective: "a", Tier: "page-1h", Started: time.Unix(1e9, 0).UTC()}}
	line, _ := json.Marshal(rec)
	f.Add(append(line, '\n'))
	rec.Version, rec.Change = 2, "noted"
	rec.Incident.Notes = []Note{{By: "ann", At: time.Unix(1e9, 0).UTC(), Text: "rolled back"}}
	rec.Incident.Ack = &Ack{By: "ann", At: time.Unix(1e9, 0).UTC()}
	line2, _ := json.Marshal(rec)
	f.Add(append(line2, '\n'))
	f.Add([]byte(`{"v":3,"change":"opened","at":"2026-01-01T00:00:00Z","incident":{"id":"a","started":"2026-01-01T00:00:00Z"}}`))
	f.Add(append(append(line, '\n'), []byte(`{"change":"resolved","incident":{"id":"a"`)...))
	f.Add([]byte("\n\n{}\nnot json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := ReadIncidentLog(bytes.NewReader(data))
		for _, r := range recs {
			if err := r.validate(); err != nil {
				t.Fatalf("returned an invalid record %+v: %v", r, err)
			}
		}
		incs := Incidents(recs)
		if len(incs) > len(recs) {
			t.Fatalf("%d incidents from %d records", len(incs), len(recs))
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"series":[{"name":"a","fine":[[177000000,10,1]],"minute":[[2950000,10,1]],"hour":[[49000,10,1]]}]}`))
	f.Add([]byte(`{"version":1,"series":[{"name":"a"},{"name":"a"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":2,"series":[{"name":"a","first":176400000000000000,"fine":[[17640000,10,1]],"hour":[[49000,10,1]]}]}`))
	f.Add([]byte(`{"version":3}`))
	f.Add([]byte(`{"version":1,"series":[{"name":"a","hour":[[-1,-5,9]]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := decodeSnapshot(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever decodes must restore without panicking and leave bad <= total.
		o, _ := Objective{Name: "a", Target: 0.99}.normalized()
		in := newIndicator(o, "a", 0.99, 0, time.Unix(0, 0))
		now := time.Unix(49000*3600+1800, 0)
		snap.apply(in, now)
		st := in.computeStatus(now)
		for _, w := range st.Windows {
			if w.Bad > w.Total || w.Total < 0 {
				t.Fatalf("window %v: %d bad of %d", w.Window, w.Bad, w.Total)
			}
		}
	})
}
