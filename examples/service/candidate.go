package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/opskit/opskit/slo"
)

// candidateID is the release id the candidate story's orders count under.
const candidateID = "candidate"

// candidateErrorRatio is the share of its orders the candidate fails: its
// regression (the baseline fails none while the downstream is up).
const candidateErrorRatio = 0.04

// errCandidate is why the candidate fails an order.
var errCandidate = errors.New("candidate release: order lost before delivery (the simulated regression)")

// candidateRelease simulates a blue/green candidate inside the one
// process: while its share is above zero it serves that share of the
// orders, counts their outcome against order-fulfilment under its own
// release id, and fails candidateErrorRatio of them. The rest of the
// orders count under the process's own release, the baseline, and
// /slo compares the two (go, no-go or not enough data). Only the request
// path is the candidate's: an order it cannot deliver at once is queued
// and delivered (and counted) by the worker, as the baseline's.
type candidateRelease struct {
	fulfil *slo.Tracker // order-fulfilment, counting under candidateID
	share  atomic.Int64 // per mille of the orders it serves
}

func newCandidate(fulfil *slo.Tracker) (*candidateRelease, error) {
	v, err := fulfil.ForRelease(candidateID)
	if err != nil {
		return nil, fmt.Errorf("candidate release: %w", err)
	}
	return &candidateRelease{fulfil: v}, nil
}

// serves picks whether the candidate serves the next order.
func (c *candidateRelease) serves() bool {
	return c != nil && rand.Int64N(1000) < c.share.Load()
}

// serve is the candidate's own part of an order: it fails its share of
// them (counted bad, as the customer was turned away) and returns the
// error, or nil to go on to the delivery.
func (c *candidateRelease) serve() error {
	if rand.Float64() < candidateErrorRatio {
		c.fulfil.Record(false)
		return errCandidate
	}
	return nil
}

// delivered counts an order the candidate delivered at once.
func (c *candidateRelease) delivered() { c.fulfil.Record(true) }

// runCandidate is the candidate story's traffic: orders open-loop at half
// the capacity, all served by the baseline for one -demo-phase, then half
// of them by the candidate for one phase, then the baseline again (the
// candidate rolled back) until ctx ends.
func runCandidate(ctx context.Context, a *app) {
	client := newDemoClient()
	defer client.CloseIdleConnections()
	verdict := a.baseURL + "/slo?objective=" + fulfilmentObjective.Name + "&candidate=" + candidateID
	rate := a.orders.admission.work.Capacity() / 2
	var cand *candidateRelease
	for phase := 0; ctx.Err() == nil; phase++ {
		switch phase {
		case 0:
			a.log.Info("demo: candidate story: the baseline serves every order", "release", a.cfg.release.ID, "for", a.cfg.demoPhase)
		case 1:
			// The candidate's counts begin now: the verdict compares the
			// two releases over the same span, from here on.
			c, err := newCandidate(a.objectives.fulfil.t)
			if err != nil {
				a.log.Error("demo: candidate story", "err", err)
				return
			}
			cand = c
			a.orders.candidate.Store(c)
			c.share.Store(500)
			a.log.Info("demo: candidate story: the candidate release serves half of the orders and fails "+
				fmt.Sprintf("%.0f%%", 100*candidateErrorRatio)+" of them; watch its verdict", "candidate", candidateID,
				"verdict", verdict, "for", a.cfg.demoPhase)
		case 2:
			cand.share.Store(0)
			a.log.Info("demo: candidate story: the candidate is rolled back; the baseline serves every order again", "verdict", verdict)
		}
		offer(ctx, rate, a.cfg.demoPhase, func() {
			tenant, body := demoOrder()
			post(ctx, client, a.baseURL+"/api/orders", tenant, body)
		})
	}
}
