package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestCandidateStoryGetsNoGo runs the candidate story as a real process
// with short phases and a fast order path: the baseline serves every order
// for a phase, then the candidate serves half of them and fails 4 %. The
// release verdict on order-fulfilment (GET /slo?objective=&candidate=)
// must become no-go once both releases have the minimum of events, and
// never say go on the way; /slo and /metrics show the candidate's own
// series, and the weekly report (the week so far) lists its verdict.
func TestCandidateStoryGetsNoGo(t *testing.T) {
	const phase = 8 * time.Second
	// 8 slots of 20ms: 400 orders a second of capacity, offered at half
	// of it, so each release reaches the 500 events a verdict needs within
	// the candidate's phase.
	base, _, logs := startService(t, "-demo-story", "candidate", "-demo-phase", phase.String(),
		"-order-slots", "8", "-order-time", "20ms", "-operator-token", testToken)
	logs.find(t, 2*phase, "candidate release serves half of the orders")

	url := base + "/slo?objective=" + fulfilmentObjective.Name + "&candidate=" + candidateID + "&format=json"
	var last verdictDoc
	waitForWithin(t, 3*phase, "the candidate's verdict to be no-go", func() bool {
		last = readVerdict(t, url)
		if last.Verdict.Decision == "go" {
			t.Fatalf("verdict go for a candidate failing 4 %% of orders against none: %+v", last.Verdict)
		}
		return last.Verdict.Decision == "no-go"
	})
	v := last.Verdict
	t.Logf("verdict: %s — %s", v.Decision, v.Reason)
	if v.Candidate.Bad == 0 || v.Baseline.Good+v.Baseline.Bad < 500 || v.Candidate.Good+v.Candidate.Bad < 500 {
		t.Errorf("no-go on candidate %+v against baseline %+v, want at least 500 events each and candidate failures", v.Candidate, v.Baseline)
	}
	if v.CandidateErrorRatio <= v.BaselineErrorRatio {
		t.Errorf("candidate error ratio %v, baseline %v: want the candidate worse", v.CandidateErrorRatio, v.BaselineErrorRatio)
	}

	var doc struct {
		Objectives []struct {
			Objective string
			Releases  []struct {
				Release string
				Own     bool
				Bad     int64
			}
		}
	}
	if _, page := getAdmitted(t, base+"/slo?format=json"); json.Unmarshal([]byte(page), &doc) != nil {
		t.Fatalf("/slo?format=json: %.300s", page)
	}
	found := false
	for _, o := range doc.Objectives {
		for _, r := range o.Releases {
			if o.Objective == fulfilmentObjective.Name && r.Release == candidateID && !r.Own && r.Bad > 0 {
				found = true
			}
			if r.Own && r.Release != last.Baseline {
				t.Errorf("/slo names %q the process's release, the verdict's baseline is %q", r.Release, last.Baseline)
			}
		}
	}
	if !found {
		t.Errorf("/slo JSON lists no %s release %q with bad events under %s", "candidate", candidateID, fulfilmentObjective.Name)
	}
	_, m := get(t, base+"/metrics")
	if metricSum(m, "opskit_slo_events_total", `release="`+candidateID+`"`) == 0 {
		t.Errorf("/metrics has no opskit_slo_events_total series for release %q", candidateID)
	}

	// The weekly report of the week so far carries the same verdict.
	code, body := getAdmitted(t, base+"/report?week=current&format=json", "Authorization", "Bearer "+testToken)
	var rep struct {
		Releases struct {
			Verdicts []struct{ Objective, Release, Decision string }
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("/report?week=current&format=json = %d %.300s", code, body)
	}
	reported := false
	for _, v := range rep.Releases.Verdicts {
		reported = reported || (v.Objective == fulfilmentObjective.Name && v.Release == candidateID && v.Decision == "no-go")
	}
	if !reported {
		t.Errorf("the weekly report's verdicts %+v lack %s no-go on %s", rep.Releases.Verdicts, candidateID, fulfilmentObjective.Name)
	}
}

type verdictDoc struct {
	Objective, Candidate, Baseline string
	Verdict                        struct {
		Decision                                string
		Reason                                  string
		Baseline, Candidate                     struct{ Good, Bad int64 }
		BaselineErrorRatio, CandidateErrorRatio float64
	}
}

func readVerdict(t *testing.T, url string) verdictDoc {
	t.Helper()
	code, body := getAdmitted(t, url)
	var d verdictDoc
	if code == 404 { // before the candidate's first event
		return d
	}
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	return d
}
