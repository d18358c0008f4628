package slo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// annotated is one notification's labels and annotations as a notifier
// got them: "callback", "webhook" or "alertmanager".
type annotated struct {
	via                 string
	labels, annotations map[string]string
}

// The release of WithRelease is recorded in the incident when it opens,
// kept through its updates and resolution in the log, and sent as
// annotations (never labels) by the callback, webhook and Alertmanager
// notifiers. A restart on another release resumes the open episode with
// the release it opened under.
func TestReleaseInIncidentsAndNotifications(t *testing.T) {
	rel := release.Info{Service: "orders-api", Version: "v1.4.2", ID: "abcdef123456"}
	got := make(chan annotated, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Labels, Annotations map[string]string }
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Error(err)
		}
		got <- annotated{"webhook", b.Labels, b.Annotations}
	}))
	defer hook.Close()
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var bs []struct{ Labels, Annotations map[string]string }
		if err := json.NewDecoder(r.Body).Decode(&bs); err != nil {
			t.Error(err)
		}
		for _, b := range bs {
			got <- annotated{"alertmanager", b.Labels, b.Annotations}
		}
	}))
	defer am.Close()
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	m, fc := newMonitor(t, slo.WithIncidentLog(path), slo.WithRelease(rel), slo.WithInstance("pod-1"),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
			got <- annotated{"callback", a.Labels, a.Annotations}
			return nil
		})),
		slo.WithNotifier(slo.Webhook(hook.URL, nil)),
		slo.WithNotifier(slo.Alertmanager(am.URL, slo.AlertmanagerOptions{})))
	pay := m.MustAdd(slo.Objective{Name: "pay", Target: 0.999})
	ship := m.MustAdd(slo.Objective{Name: "ship", Target: 0.999, Annotations: map[string]string{"service": "shipping"}})
	pay.RecordN(1000, 1000)
	ship.RecordN(1000, 1000)
	fc.Advance(10 * time.Second)
	m.Evaluate()

	// Both objectives page: 2 objectives x 3 notifiers, at least.
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second) // a bound on a broken test, not a wait for time
	for len(seen) < 6 {
		var n annotated
		select {
		case n = <-got:
		case <-deadline:
			t.Fatalf("notifications seen: %v", seen)
		}
		obj := n.labels["objective"]
		seen[n.via+" "+obj] = true
		for _, name := range []string{"release", "version", "service"} {
			if _, ok := n.labels[name]; ok {
				t.Errorf("%s %s: label %q: the release must not be a label: %v", n.via, obj, name, n.labels)
			}
		}
		wantService := map[string]string{"pay": "orders-api", "ship": "shipping"}[obj]
		if n.annotations["release"] != rel.ID || n.annotations["version"] != rel.Version || n.annotations["service"] != wantService {
			t.Errorf("%s %s: annotations %v, want release %s, version %s, service %s", n.via, obj, n.annotations, rel.ID, rel.Version, wantService)
		}
	}

	// The pay episode gets worse (an "updated" record), then the process
	// stops with it open.
	pay.RecordN(1000, 1000)
	fc.Advance(10 * time.Minute)
	m.Evaluate()
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := readLog(t, path)
	changes := map[string]bool{}
	for _, r := range recs {
		changes[r.Change] = true
		if r.Incident.Release != rel {
			t.Errorf("%s record of %s: release %+v, want %+v", r.Change, r.Incident.ID, r.Incident.Release, rel)
		}
	}
	if !changes["opened"] || !changes["updated"] {
		t.Fatalf("log should hold opened and updated records: %+v", recs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"release":{"serviceId":"orders-api","version":"v1.4.2","releaseId":"abcdef123456"}`) {
		t.Errorf("log lines lack the release:\n%s", b)
	}

	// The next release takes the open episodes up and resolves them: they
	// keep the release they opened under.
	next := release.Info{Service: "orders-api", Version: "v1.5.0", ID: "0123456789ab"}
	m2, _ := newMonitorOn(t, fc, slo.WithIncidentLog(path), slo.WithRelease(next))
	m2.MustAdd(slo.Objective{Name: "pay", Target: 0.999})
	m2.MustAdd(slo.Objective{Name: "ship", Target: 0.999})
	fc.Advance(2 * time.Hour)
	m2.Evaluate()
	incs := m2.Incidents()
	if len(incs) != 2 {
		t.Fatalf("incidents after the restart: %+v", incs)
	}
	for _, inc := range incs {
		if inc.Open() || inc.Release != rel {
			t.Errorf("incident %s after the restart: open %v, release %+v, want resolved under %+v", inc.ID, inc.Open(), inc.Release, rel)
		}
	}
}

// A log written before incidents carried a release reads with a zero
// Release; resumed under WithRelease, the episode is not stamped with a
// release it did not open under, and its records still carry none.
func TestLogWithoutReleaseReads(t *testing.T) {
	recs, err := slo.ReadIncidentLog(strings.NewReader(openRecord + "\n"))
	if err != nil || len(recs) != 1 || recs[0].Incident.Release != (release.Info{}) {
		t.Fatalf("records: %+v, %v", recs, err)
	}
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	if err := os.WriteFile(path, []byte(openRecord+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, fc := newMonitor(t, slo.WithIncidentLog(path), slo.WithRelease(release.Info{Service: "s", Version: "v2", ID: "r2"}))
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	fc.Advance(time.Minute)
	m.Evaluate() // nothing burns: the resumed episode resolves
	recs = readLog(t, path)
	if len(recs) != 2 || recs[1].Change != "resolved" || recs[1].Incident.Release != (release.Info{}) {
		t.Fatalf("records: %+v", recs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"release"`) {
		t.Errorf("a zero release is written:\n%s", b)
	}
}
