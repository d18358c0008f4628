// Package release names the running release and decides whether a new
// release may replace the old one.
//
// A deploy pipeline asks for a verdict on one objective's events, counted
// per release since the candidate started, and acts on the first Go or
// NoGo; it may ask as often as it likes:
//
//	package main
//
//	import (
//		"encoding/json"
//		"flag"
//		"log"
//		"os"
//
//		"github.com/opskit/opskit/release"
//	)
//
//	func main() {
//		var base, cand release.Counts
//		flag.Uint64Var(&base.Good, "baseline-good", 9900, "the baseline's good events")
//		flag.Uint64Var(&base.Bad, "baseline-bad", 100, "the baseline's bad events")
//		flag.Uint64Var(&cand.Good, "candidate-good", 970, "the candidate's good events")
//		flag.Uint64Var(&cand.Bad, "candidate-bad", 30, "the candidate's bad events")
//		flag.Parse()
//
//		v, err := release.Compare(base, cand, release.Policy{})
//		if err != nil {
//			log.Fatal(err)
//		}
//		enc := json.NewEncoder(os.Stdout)
//		enc.SetIndent("", "  ")
//		if err := enc.Encode(v); err != nil {
//			log.Fatal(err)
//		}
//		switch v.Decision {
//		case release.NoGo:
//			os.Exit(1) // roll back
//		case release.NotEnoughData:
//			os.Exit(2) // look again later
//		}
//	}
//
// # Release identity
//
// Info is the service name, version and release id. FromBuild fills the
// fields not given from the binary's build information: the version from
// the main module (a tag, or the pseudo-version the go command derives
// from the VCS), the release id from the VCS revision (12 hex digits,
// "-dirty" for a modified work tree). A build that recorded neither —
// `go run`, `go test`, GOFLAGS=-buildvcs=false, a build outside a checkout
// — shows Devel, "(devel)", for both. health.WithRelease puts an Info into
// the application/health+json answers (serviceId, version, releaseId),
// RegisterMetrics publishes it as the gauge opskit.build.info, and
// audit.Guard.Release and audit.WithRelease stamp its ID on audit records.
//
// # The verdict
//
// Compare runs a sequential probability ratio test on the bad events of
// the two releases (see Compare for the arithmetic): NoGo once the
// evidence for "the candidate fails Policy.Regression times as often as
// the baseline" reaches 1/FalseNoGo against "alike", Go once it falls to
// FalseGo, NotEnoughData before either, and before each release has
// Policy.MinEvents events (default 500). Because the evidence is a
// likelihood ratio, a martingale, the error bounds hold over every look a
// pipeline takes, at any times it likes — no correction for peeking.
//
// With the defaults (a 3x regression, 5 % each way, 500 events), a 1 %
// baseline error ratio, and pipelines that look after every 50 candidate
// events (up to 20,000), TestVerdictSimulation measured, with
// OPSKIT_LONG=1 go test -run Simulation -v ./release (10,000 pipelines
// per case, fixed seed):
//
//	candidate's share   false no-go   false go   power (3x)   90 % of 3x stopped by
//	half the traffic    3.28 %        1.99 %     98.01 %      1,250 candidate events
//	a tenth             1.40 %        1.50 %     98.50 %        750 candidate events
//	a tenth rising      1.98 %        1.54 %     98.46 %        850 candidate events
//	  to half over 20 looks
//
// and in `make test` (400 pipelines per case) 2.75 %, 1.75 %, 98.25 %,
// 1,300; 0.75 %, 0.75 %, 99.25 %, 750; 2.25 %, 0.75 %, 99.25 %, 850. Every
// alike candidate got Go before 20,000 events. The rising split shows the
// share taken from cumulative counts holds up when traffic shifts. A candidate between alike and 3x worse may get
// either answer; one with no bad events, nor a baseline with any, gets
// NotEnoughData until bad events come.
//
// # Concurrency, errors
//
// Everything here is a pure function of its arguments, safe for
// concurrent use. Compare returns an error naming the Policy field for a
// value it cannot use, and for counts that overflow.
package release
