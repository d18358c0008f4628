package slo

import (
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
)

// Whatever a replica (or an attacker with write access to the store) puts
// as its state is either rejected with an ErrSnapshot error or read into a
// history whose windows stay consistent; it never panics, and its units
// decide without panicking.
func FuzzDecodeFleetState(f *testing.F) {
	f.Add("r2", []byte(`{"version":2,"instance":"r2","saved":"2026-03-01T00:00:00Z","series":[{"name":"a","first":1772323200000000000,"fine":[[177232320,10,1]],"hour":[[492312,10,1]],"units":{"accepted":[{"id":"o1","at":1772323200000000000}],"completed":[{"id":"o2","at":1772323200000000000,"ok":true}],"decided":[{"id":"o1","at":1772323100000000000}]}}]}`))
	f.Add("r2", []byte(`{"version":2,"instance":"r3","series":[]}`))
	f.Add("r2", []byte(`{"version":2,"instance":"r2","series":[{"name":"a","units":{"accepted":[{"id":"","at":0}]}}]}`))
	f.Add("r2", []byte(`{"version":2,"instance":"r2","series":[{"name":"a","units":{"decided":[{"id":"o3","at":-5,"ok":true}]}}]}`))
	f.Add("r2", []byte(`{"version":2,"instance":"r2","series":[{"name":"a","fine":[[1,5,9]]}]}`))
	f.Add("r2", []byte(`not json`))
	f.Fuzz(func(t *testing.T, instance string, data []byte) {
		snap, err := decodeFleetState(fleet.State{Instance: instance, Data: data})
		if err != nil {
			return
		}
		o, _ := Objective{Name: "a", Target: 0.99}.normalized()
		now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
		tr := newTracker(&Monitor{clock: clock.NewFake(now)}, o)
		in := tr.ind[0]
		rs := &replicaState{at: now, snap: snap, series: map[string]*series{}}
		v := &fleetView{self: "r1"}
		if s := rs.seriesFor(in, now); s != nil {
			v.replicas = append(v.replicas, remoteSeries{instance: instance, at: now, s: s})
		}
		if u := snap.units("a"); u != nil {
			v.units = append(v.units, u)
		}
		in.fleet.Store(v)
		st := in.computeStatus(now)
		for _, w := range st.Windows {
			if w.Bad > w.Total || w.Total < 0 {
				t.Fatalf("window %v: %d bad of %d", w.Window, w.Bad, w.Total)
			}
		}
		p := &Pending{t: tr, bound: time.Minute}
		j := newJournal(p, &fleetMode{ttl: 30 * time.Second}, snap.units("a"))
		j.decide(now, v.units)
		_ = j.state(now.UnixNano(), v.units)
	})
}
