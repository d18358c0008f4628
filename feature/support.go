package feature

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/opskit/opskit/audit"
)

// SupportAction is the audit action the support view requires and logs.
const SupportAction audit.Action = "support.read"

// LookupDays is how many UTC days, ending today, Tenant can answer for.
const LookupDays = lookSlots

// maxTenantLen bounds a tenant id given to Tenant.
const maxTenantLen = 256

// Answer is a yes, a no or a "probably": a tenant that was marked always
// matches, so "no" is certain; a match is "yes" when the chance that an
// unmarked tenant would match the same filter block is under 0.1 %, and
// "probably" otherwise, with Chance = 1 − that chance.
type Answer struct {
	Value  string  `json:"answer"` // "yes", "no" or "probably"
	Chance float64 `json:"chance"` // 1 for yes, 0 for no
}

func answerOf(match bool, falsePositive float64) Answer {
	switch {
	case !match:
		return Answer{Value: "no"}
	case falsePositive < 0.001:
		return Answer{Value: "yes", Chance: 1}
	}
	return Answer{Value: "probably", Chance: math.Floor((1-falsePositive)*1000) / 1000}
}

// String is "yes", "no" or "probably (97.5 %)".
func (a Answer) String() string {
	if a.Value == "probably" {
		return "probably (" + pctText(a.Chance*100) + ")"
	}
	return a.Value
}

func (a Answer) yes() bool { return a.Value != "no" }

// TenantDay is one feature on one day for one tenant.
type TenantDay struct {
	Day    time.Time `json:"day"`
	Used   Answer    `json:"used"`
	Failed Answer    `json:"failed"`
}

// TenantFeature is what one feature did for one tenant over the days kept.
type TenantFeature struct {
	Name string      `json:"name"`
	Days []TenantDay `json:"days"` // the days the tenant (probably) used it, newest first
	// Reasons are the feature's recent failure reasons (for every tenant:
	// reasons are not kept per tenant), when it failed for this tenant.
	Reasons []Reason `json:"reasons,omitempty"`
}

// TenantReport answers "is customer X affected?". It holds the keyed hash
// of the tenant id, never the id.
type TenantReport struct {
	Tenant   string          `json:"tenant"` // the keyed hash of the id, in hex
	From     time.Time       `json:"from"`   // first day covered (UTC midnight)
	To       time.Time       `json:"to"`     // end (exclusive)
	Affected bool            `json:"affected"`
	Summary  string          `json:"summary"`
	Features []TenantFeature `json:"features"` // failing for the tenant first; only features the tenant (probably) used
}

// Tenant hashes the raw tenant id with the registry's key and answers, per
// feature and day over the last LookupDays days (this instance's live
// counts merged with the other snapshots in the directory), whether the
// tenant used it and whether it failed for them. The false-positive rate
// of a "yes" depends on how many tenants used the feature that day:
// FilterFalsePositive states it; each answer carries its own.
func (r *Registry) Tenant(id string) (*TenantReport, error) {
	if err := checkTenant(id); err != nil {
		return nil, err
	}
	h := sipHash(r.key, id)
	p := probeOf(h)
	st, _, _ := r.fleetState()
	today := dayOf(unixMinute(st.Saved))
	rep := &TenantReport{Tenant: fmt.Sprintf("%016x", h), From: dayTime(today - LookupDays + 1), To: dayTime(today + 1), Features: []TenantFeature{}}
	var failing []string
	for _, name := range r.declaredNames() {
		fs := st.Features[name]
		if fs == nil {
			continue
		}
		tf := TenantFeature{Name: name, Days: []TenantDay{}}
		failed := false
		for d := today; d > today-LookupDays; d-- {
			ds := fs.Days[d]
			if ds == nil || ds.Look == nil {
				continue
			}
			used := answerOf(test(&ds.Look.Used, p))
			if !used.yes() {
				continue
			}
			fail := answerOf(test(&ds.Look.Failed, p))
			failed = failed || fail.yes()
			tf.Days = append(tf.Days, TenantDay{Day: dayTime(d), Used: used, Failed: fail})
		}
		if len(tf.Days) == 0 {
			continue
		}
		if failed {
			tf.Reasons = fs.Reasons[:min(3, len(fs.Reasons))]
			failing = append(failing, name)
		}
		rep.Features = append(rep.Features, tf)
	}
	// Features that failed for the tenant first, keeping catalog order.
	var first, rest []TenantFeature
	for _, tf := range rep.Features {
		if len(tf.Reasons) > 0 || anyFailed(tf) {
			first = append(first, tf)
		} else {
			rest = append(rest, tf)
		}
	}
	rep.Features = append(first, rest...)
	rep.Affected = len(failing) > 0
	switch {
	case rep.Affected:
		rep.Summary = fmt.Sprintf("affected: %s failed for this tenant in the last %d days", strings.Join(failing, ", "), LookupDays)
	case len(rep.Features) > 0:
		rep.Summary = fmt.Sprintf("not affected: used %d feature(s) in the last %d days, none failed for this tenant", len(rep.Features), LookupDays)
	default:
		rep.Summary = fmt.Sprintf("no use by this tenant in the last %d days", LookupDays)
	}
	return rep, nil
}

func anyFailed(tf TenantFeature) bool {
	for _, d := range tf.Days {
		if d.Failed.yes() {
			return true
		}
	}
	return false
}

func checkTenant(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: tenant id is empty", ErrInvalid)
	case len(id) > maxTenantLen:
		return fmt.Errorf("%w: tenant id is %d bytes, want at most %d", ErrInvalid, len(id), maxTenantLen)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: tenant id contains a control character", ErrInvalid)
	}
	return nil
}

// SupportHandler serves "is tenant X affected?" behind g: every request
// must pass g.Allow for SupportAction ("support.read"), and every lookup
// appends one audit record through g.Log whose target is the tenant's
// keyed hash — never the raw id. Without a tenant it serves the form.
//
//	GET  ?tenant=ID[&format=json]   (the id then appears in access logs)
//	POST tenant=ID[&format=json]    (form body: preferred)
//
// HTML by default (Content-Security-Policy, nosniff), JSON with
// format=json or Accept: application/json. If the audit record cannot be
// written the answer is withheld (500).
func (r *Registry) SupportHandler(g *audit.Guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		actor, ok := guarded(w, req, g, SupportAction)
		if !ok {
			return
		}
		asJSON := req.Form.Get("format") == "json" || strings.Contains(req.Header.Get("Accept"), "application/json")
		id := req.Form.Get("tenant")
		var rep *TenantReport
		if id != "" || req.Form.Has("tenant") {
			var err error
			if rep, err = r.Tenant(id); err != nil {
				http.Error(w, "feature: bad parameter tenant: "+strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), http.StatusBadRequest)
				return
			}
			detail := "affected=" + strconv.FormatBool(rep.Affected) + " features=" + strconv.Itoa(len(rep.Features))
			if err := g.Log(req, actor, SupportAction, "tenant:"+rep.Tenant, nil, detail); err != nil {
				http.Error(w, "feature: audit log: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		var buf bytes.Buffer
		var err error
		if asJSON {
			w.Header().Set("Content-Type", "application/json")
			if rep == nil {
				http.Error(w, "feature: missing parameter tenant", http.StatusBadRequest)
				return
			}
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			err = enc.Encode(rep)
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
			err = supportPage.Execute(&buf, rep)
		}
		if err != nil {
			http.Error(w, "feature: render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(buf.Bytes())
	})
}

// guarded admits a GET, HEAD or POST that g allows for action and parses
// its form (at most 4 KiB); otherwise it has answered and returns false.
func guarded(w http.ResponseWriter, req *http.Request, g *audit.Guard, action audit.Action) (actor string, ok bool) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "feature: method "+req.Method+" not allowed", http.StatusMethodNotAllowed)
		return "", false
	}
	if actor, ok = g.Allow(w, req, action); !ok {
		return "", false
	}
	req.Body = http.MaxBytesReader(w, req.Body, 4096)
	if err := req.ParseForm(); err != nil {
		http.Error(w, "feature: bad form: "+err.Error(), http.StatusBadRequest)
		return "", false
	}
	return actor, true
}

var supportPage = template.Must(template.New("support").Funcs(template.FuncMap{
	"day":    day,
	"last":   lastDay,
	"reason": reasonText,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Is this tenant affected?</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}.bad{color:#b00}.ok{color:#070}</style>
</head><body><h1>Is this tenant affected?</h1>
<form method="post"><label>Tenant id <input name="tenant" maxlength="256" required></label> <button>Look up</button></form>
{{with .}}<h2 class="{{if .Affected}}bad{{else}}ok{{end}}">{{.Summary}}</h2>
<p>Tenant hash {{.Tenant}} · {{day .From}} to {{last .To}} (UTC days). "no" is certain; "yes" and "probably (p %)" come from a Bloom filter.</p>
{{if .Features}}<table><thead><tr><th>Feature</th><th>Day</th><th>Used</th><th>Failed for this tenant</th></tr></thead><tbody>
{{range .Features}}{{$f := .}}{{range .Days}}<tr><td>{{$f.Name}}</td><td>{{day .Day}}</td><td>{{.Used}}</td><td{{if ne .Failed.Value "no"}} class="bad"{{end}}>{{.Failed}}</td></tr>
{{end}}{{if .Reasons}}<tr><td colspan="4"><small>Recent failure reasons of {{.Name}} (all tenants):<ul>{{range .Reasons}}<li>{{reason .}}</li>{{end}}</ul></small></td></tr>{{end}}
{{end}}</tbody></table>{{end}}{{end}}
</body></html>
`))
