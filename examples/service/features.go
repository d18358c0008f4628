package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/slo"
	"go.opentelemetry.io/otel/metric"
)

// The feature stories of the demo (the whole list, demoStories, is in
// demo.go).
const (
	storyOutage  = "outage"          // the downstream walks through flaky, down, up, slow
	storyFailing = "failing-feature" // the downstream stays up; bulk orders fail for a few tenants
)

// demoFailingTenants are the tenants whose bulk orders fail in the
// failing-feature story (the demo's traffic uses tenant-00 … tenant-11).
var demoFailingTenants = map[string]bool{"tenant-00": true, "tenant-01": true, "tenant-02": true, "tenant-03": true}

// errBulkPricing is why a bulk order fails in the failing-feature story.
var errBulkPricing = errors.New("bulk pricing unavailable for this tenant's price list")

// features is the service's feature catalog. Some entries are never touched
// by the demo traffic on purpose: the /features report then shows what a
// product owner would see for features nobody uses. Outcomes (delivered,
// queued, refused) are outcomes of a use, not features.
type features struct {
	reg *feature.Registry

	placeOrder  *feature.Feature // every order
	bulkOrder   *feature.Feature // orders of more than three items
	requeueDead *feature.Feature // an operator requeued a dead letter

	bulkBroken atomic.Bool // the failing-feature story is on
	bulkDown   atomic.Bool // the self-healing story's pricing outage: bulk orders fail for everyone (remedy.go)
}

// newFeatures opens the catalog under cfg's data directory, as replica
// cfg.instance; with a fleet store (nil: none) every replica's counts meet
// in it. Kill switches are audited to sink.
func newFeatures(cfg config, store fleet.Store, sink audit.Sink, mp metric.MeterProvider) (*features, error) {
	opts := []feature.Option{
		feature.WithDir(filepath.Join(cfg.dataDir, "features")),
		feature.WithInstance(cfg.instance),
		feature.WithMeterProvider(mp),
		feature.WithAudit(sink),
		feature.WithReportFile(feature.ReportFile{Path: filepath.Join(cfg.dataDir, "features-weekly.html")}),
	}
	if store != nil {
		opts = append(opts, feature.WithStore(store))
	}
	reg, err := feature.New(opts...)
	if err != nil {
		return nil, err
	}
	shipped := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	f := &features{
		reg:         reg,
		placeOrder:  reg.MustDefine("orders.place", "team-orders", shipped, "Place an order through POST /api/orders"),
		bulkOrder:   reg.MustDefine("orders.bulk", "team-orders", shipped, "Order more than three of an item at once"),
		requeueDead: reg.MustDefine("ops.requeue-dead-letter", "team-platform", shipped, "Operator requeues a dead-lettered order"),
	}
	// Declared and shipped, but nothing in this service calls them: the
	// report lists them as never used.
	reg.MustDefine("orders.gift-wrap", "team-orders", shipped, "Gift-wrap an order")
	reg.MustDefine("invoices.fax", "team-billing", shipped, "Send the invoice by fax")
	return f, nil
}

// withTenant attaches a tenant (already checked by tenantOf) to ctx for
// feature counting.
func (f *features) withTenant(ctx context.Context, tenant string) context.Context {
	return f.reg.WithTenant(ctx, tenant)
}

// refuseBulk says why a bulk order cannot be taken: only in the
// failing-feature story, for demoFailingTenants, and during the
// self-healing story's pricing outage, for everyone.
func (f *features) refuseBulk(tenant string, bulk bool) error {
	if bulk && f.bulkDown.Load() {
		return errBulkPricingDown
	}
	if bulk && f.bulkBroken.Load() && demoFailingTenants[tenant] {
		return errBulkPricing
	}
	return nil
}

// outcome records one order's outcome: orders.place, and orders.bulk for
// a bulk order, succeed or fail with err as the reason.
func (f *features) outcome(ctx context.Context, bulk bool, err error) {
	uses := []*feature.Feature{f.placeOrder}
	if bulk {
		uses = append(uses, f.bulkOrder)
	}
	for _, u := range uses {
		if err != nil {
			u.FailWith(ctx, err.Error())
		} else {
			u.Use(ctx)
		}
	}
}

// bulkObjective is orders.bulk's own objective: its failures page with an
// IF/DO/SO THAT that names the feature, however few tenants use it.
var bulkObjective = slo.Objective{
	Name:    "feature-orders-bulk",
	Target:  0.99,
	Runbook: "Open /features: its failing section names orders.bulk with the number of tenants affected, the share of its users, since when and the top reason; /support answers for one tenant.",
	Outcome: "tenants who order more than three items at once (orders.bulk) can do so",
}

// trackBulk ties orders.bulk to its objective: one line, Track; its alert
// and incident say whom the failures affect (Impact).
func (f *features) trackBulk(mon *slo.Monitor) error {
	obj := bulkObjective
	obj.Impact = f.bulkOrder.Impact
	tr, err := mon.Add(obj)
	if err != nil {
		return err
	}
	f.bulkOrder.Track(tr.Record)
	return nil
}

func (f *features) handler() http.Handler { return f.reg.Handler(feature.Policy{}) }

// support answers "is tenant X affected?" for the operator token
// (action support.read), one audit record per lookup.
func (f *features) support(g *audit.Guard) http.Handler { return f.reg.SupportHandler(g) }

// switches turns a feature off or on by hand for the operator token
// (action feature.switch), audited; GET lists every feature's switch.
func (f *features) switches(g *audit.Guard) http.Handler { return f.reg.SwitchHandler(g) }

// Close saves the last snapshot, waiting at most 10 s for the registry.
func (f *features) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.reg.Shutdown(ctx)
}
