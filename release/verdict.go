package release

import (
	"fmt"
	"math"
	"strconv"
)

// Counts are one objective's events for one release: good and bad.
type Counts struct {
	Good uint64 `json:"good"`
	Bad  uint64 `json:"bad"`
}

// Total is Good+Bad.
func (c Counts) Total() uint64 { return c.Good + c.Bad }

// ErrorRatio is Bad/Total, 0 with no events.
func (c Counts) ErrorRatio() float64 {
	if c.Total() == 0 {
		return 0
	}
	return float64(c.Bad) / float64(c.Total())
}

// Decision is what a Verdict says of the candidate.
type Decision string

const (
	// Go: the candidate's error ratio is not Regression times the
	// baseline's (it is about the same, or better).
	Go Decision = "go"
	// NoGo: the candidate's error ratio is higher than the baseline's.
	NoGo Decision = "no-go"
	// NotEnoughData: too few events yet for either; look again later.
	NotEnoughData Decision = "not-enough-data"
)

// Policy sets what Compare detects and how sure it must be. A zero field
// is its documented default.
type Policy struct {
	// Regression is the ratio of the candidate's error ratio to the
	// baseline's that must get NoGo (with probability at least
	// 1-FalseGo). Above 1; default 3.
	Regression float64
	// FalseNoGo bounds the probability of NoGo for a candidate exactly as
	// good as the baseline, over every look a pipeline takes. In (0, 0.5];
	// default 0.05.
	FalseNoGo float64
	// FalseGo bounds the probability of Go for a candidate whose error
	// ratio is Regression times the baseline's (or worse), over every
	// look. In (0, 0.5]; default 0.05.
	FalseGo float64
	// MinEvents is how many events each release needs before Compare says
	// anything but NotEnoughData. Default DefaultMinEvents.
	MinEvents uint64
}

// DefaultMinEvents is Policy.MinEvents' default: events per release.
const DefaultMinEvents = 500

func (p Policy) withDefaults() (Policy, error) {
	if p.Regression == 0 {
		p.Regression = 3
	}
	if p.FalseNoGo == 0 {
		p.FalseNoGo = 0.05
	}
	if p.FalseGo == 0 {
		p.FalseGo = 0.05
	}
	if p.MinEvents == 0 {
		p.MinEvents = DefaultMinEvents
	}
	if !(p.Regression > 1) || math.IsInf(p.Regression, 0) {
		return p, fmt.Errorf("release: Policy.Regression %v: want a finite ratio above 1", p.Regression)
	}
	if !(p.FalseNoGo > 0 && p.FalseNoGo <= 0.5) {
		return p, fmt.Errorf("release: Policy.FalseNoGo %v: want a probability in (0, 0.5]", p.FalseNoGo)
	}
	if !(p.FalseGo > 0 && p.FalseGo <= 0.5) {
		return p, fmt.Errorf("release: Policy.FalseGo %v: want a probability in (0, 0.5]", p.FalseGo)
	}
	return p, nil
}

// Verdict is Compare's answer, ready for encoding/json.
type Verdict struct {
	Decision  Decision `json:"decision"`
	Baseline  Counts   `json:"baseline"`
	Candidate Counts   `json:"candidate"`
	// BaselineErrorRatio and CandidateErrorRatio are Bad/Total.
	BaselineErrorRatio  float64 `json:"baselineErrorRatio"`
	CandidateErrorRatio float64 `json:"candidateErrorRatio"`
	// LogLikelihoodRatio is the evidence (natural log) for a regression of
	// Policy.Regression against none: NoGo at or above
	// ln(1/FalseNoGo), Go at or below ln(FalseGo).
	LogLikelihoodRatio float64 `json:"logLikelihoodRatio"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
}

// Compare decides whether the candidate release may replace the baseline
// on one objective, from each release's good and bad events so far (the
// counts since the candidate started, for both). A pipeline may call it
// as often as it likes on growing counts and act on the first Go or NoGo:
// the error bounds of Policy hold over all those looks together.
//
// # The test
//
// Compare runs a sequential probability ratio test (Wald) on the bad
// events. Given how many bad events there are in all, each one falls to
// the candidate with probability s = n_c/(n_c+n_b) (its share of the
// traffic) when both releases fail alike, and with probability
// q = R·s/(R·s+1-s) when the candidate fails R = Policy.Regression times
// as often (a Poisson view of bad events, which holds while error ratios
// are small). The likelihood ratio of the two,
//
//	LR = (q/s)^bad_c · ((1-q)/(1-s))^bad_b,
//
// is a martingale with mean 1 under "alike" (and 1/LR under "R times"),
// so by Ville's inequality LR ever reaches 1/FalseNoGo with probability at
// most FalseNoGo when the candidate is as good, and ever falls to FalseGo
// with probability at most FalseGo when it is R times worse — however
// often and whenever the pipeline looks. These are Wald's boundaries
// without his approximation, so they err on the safe side. The baseline's
// own error ratio never needs estimating: it cancels.
//
// The bounds are for the two hypotheses; a candidate between them (say
// 1.7 times the baseline at R = 3) may get either answer. A candidate
// better than the baseline gets Go sooner. With no bad events at all there
// is no evidence either way: NotEnoughData stays until there are some. The
// share s is taken from the counts, which is exact when the traffic split
// is steady. The test assumes error ratios well below 1/R; at a
// 1 % baseline and R = 3 its errors were measured below the bounds.
//
// # Measured
//
// TestVerdictSimulation (with OPSKIT_LONG=1 for 10,000 pipelines per
// case) simulates pipelines that look after every 50 candidate events,
// with a baseline error ratio of 1 %, the defaults, and the candidate
// taking half or a tenth of the traffic, or a share rising from a tenth
// to half; see the package documentation
// for the rates it measured.
//
// Compare returns an error, naming the field, for a Policy it cannot use.
func Compare(baseline, candidate Counts, p Policy) (Verdict, error) {
	p, err := p.withDefaults()
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{
		Baseline: baseline, Candidate: candidate,
		BaselineErrorRatio: baseline.ErrorRatio(), CandidateErrorRatio: candidate.ErrorRatio(),
	}
	nb, nc := baseline.Total(), candidate.Total()
	if nb < baseline.Good || nc < candidate.Good {
		return Verdict{}, fmt.Errorf("release: counts overflow: baseline %d+%d, candidate %d+%d",
			baseline.Good, baseline.Bad, candidate.Good, candidate.Bad)
	}
	if nb > 0 && nc > 0 {
		s := float64(nc) / (float64(nc) + float64(nb))
		q := p.Regression * s / (p.Regression*s + 1 - s)
		v.LogLikelihoodRatio = float64(candidate.Bad)*math.Log(q/s) +
			float64(baseline.Bad)*math.Log((1-q)/(1-s))
	}
	noGoAt, goAt := math.Log(1/p.FalseNoGo), math.Log(p.FalseGo)
	switch {
	case nb < p.MinEvents || nc < p.MinEvents:
		v.Decision = NotEnoughData
		v.Reason = fmt.Sprintf("%d baseline and %d candidate events; each release needs %d", nb, nc, p.MinEvents)
	case v.LogLikelihoodRatio >= noGoAt:
		v.Decision = NoGo
		v.Reason = "the candidate fails more often than the baseline: error ratio " + percent(v.CandidateErrorRatio) +
			" against " + percent(v.BaselineErrorRatio) + fmt.Sprintf(" (evidence %.2f ≥ %.2f)", v.LogLikelihoodRatio, noGoAt)
	case v.LogLikelihoodRatio <= goAt:
		v.Decision = Go
		v.Reason = "the candidate fails no more than " + strconv.FormatFloat(p.Regression, 'g', -1, 64) +
			" times as often as the baseline: error ratio " + percent(v.CandidateErrorRatio) +
			" against " + percent(v.BaselineErrorRatio) + fmt.Sprintf(" (evidence %.2f ≤ %.2f)", v.LogLikelihoodRatio, goAt)
	default:
		v.Decision = NotEnoughData
		v.Reason = fmt.Sprintf("%d bad events are not enough to decide yet (evidence %.2f, no-go at %.2f, go at %.2f)",
			baseline.Bad+candidate.Bad, v.LogLikelihoodRatio, noGoAt, goAt)
	}
	return v, nil
}

func percent(r float64) string { return strconv.FormatFloat(100*r, 'f', 2, 64) + " %" }
