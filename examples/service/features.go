package main

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/feature"
	"go.opentelemetry.io/otel/metric"
)

// features is the service's feature catalog. Some entries are never touched
// by the demo traffic on purpose: the /features report then shows what a
// product owner would see for features nobody uses.
type features struct {
	reg *feature.Registry

	placeOrder  *feature.Feature // every order
	bulkOrder   *feature.Feature // orders of more than three items
	queuedOrder *feature.Feature // orders the service had to queue for later
	requeueDead *feature.Feature // an operator requeued a dead letter
}

func newFeatures(dataDir string, mp metric.MeterProvider) (*features, error) {
	reg, err := feature.New(
		feature.WithDir(filepath.Join(dataDir, "features")),
		feature.WithInstance("service"),
		feature.WithMeterProvider(mp),
		feature.WithReportFile(feature.ReportFile{Path: filepath.Join(dataDir, "features-weekly.html")}),
	)
	if err != nil {
		return nil, err
	}
	shipped := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	f := &features{
		reg:         reg,
		placeOrder:  reg.MustDefine("orders.place", "team-orders", shipped, "Place an order through POST /api/orders"),
		bulkOrder:   reg.MustDefine("orders.bulk", "team-orders", shipped, "Order more than three of an item at once"),
		queuedOrder: reg.MustDefine("orders.queued", "team-orders", shipped, "Order accepted while the downstream was unavailable, delivered later"),
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

func (f *features) handler() http.Handler { return f.reg.Handler(feature.Policy{}) }

// Close saves the last snapshot, waiting at most 10 s for the registry.
func (f *features) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.reg.Shutdown(ctx)
}
