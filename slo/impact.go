package slo

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxImpact bounds the text of Objective.Impact kept per evaluation, in
// bytes; longer text is cut at a rune boundary and ends with "…".
const maxImpact = 300

// impacts calls the Impact hook of every objective that has one, outside
// every lock of the Monitor, and returns the bounded texts by indicator. A
// hook that panics gives no text; the panic is logged.
func (m *Monitor) impacts() map[*indicator]string {
	var out map[*indicator]string
	for _, in := range m.indicators() {
		if in.obj.Impact == nil {
			continue
		}
		if out == nil {
			out = map[*indicator]string{}
		}
		out[in] = m.callImpact(in)
	}
	return out
}

// callImpact runs in's Impact hook once, recovering a panic.
func (m *Monitor) callImpact(in *indicator) (text string) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("slo: Objective.Impact panicked", "objective", in.name, "panic", fmt.Sprint(r))
			text = ""
		}
	}()
	return boundImpact(in.obj.Impact())
}

// boundImpact trims s, makes it valid UTF-8 on one line, and cuts it to
// maxImpact bytes.
func boundImpact(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxImpact {
		return s
	}
	const ell = "…"
	cut := maxImpact - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// withImpact appends the impact text to an alert's condition clause.
// Requires Monitor.evalMu held.
func (in *indicator) withImpact(cond string) string {
	if in.impact == "" {
		return cond
	}
	return cond + "; impact: " + in.impact
}

// annotateImpact sets the "impact" annotation unless the objective's
// Annotations set it. Requires Monitor.evalMu held.
func (in *indicator) annotateImpact(ann map[string]string) {
	if _, set := ann["impact"]; !set && in.impact != "" {
		ann["impact"] = in.impact
	}
}
