package feature_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/fleet"
)

func ExampleRegistry_Define() {
	reg, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		panic(err)
	}
	defer reg.Shutdown(context.Background())
	since := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	export, _ := reg.Define("csv-export", "team-reports", since, "Export any table as CSV")
	_, err = reg.Define("csv-export", "team-reports", since, "again")
	fmt.Println(export.Name(), "by", export.Owner())
	fmt.Println(err)
	// Output:
	// csv-export by team-reports
	// feature: duplicate feature name: "csv-export" is already defined
}

func ExampleFeature_Use() {
	reg, _ := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Shutdown(context.Background())
	search := reg.MustDefine("search", "team-find", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Full-text search")
	for _, tenant := range []string{"acme", "globex", "acme"} {
		ctx := reg.WithTenant(context.Background(), tenant) // once per request
		search.Use(ctx)
	}
	s := reg.Stats()[0]
	fmt.Printf("%s: %d uses today by %d tenants\n", s.Name, s.Today, s.TenantsToday)
	// Output:
	// search: 3 uses today by 2 tenants
}

func ExampleRegistry_Report() {
	reg, _ := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Shutdown(context.Background())
	shipped := time.Now().AddDate(0, -3, 0)
	reg.MustDefine("search", "team-find", shipped, "Full-text search").UseN(context.Background(), 40)
	reg.MustDefine("fax", "team-legacy", shipped, "Send an invoice by fax")
	reg.UseName(context.Background(), "dark-mode") // used but never declared
	rep, _ := reg.Report(feature.Policy{Days: 7})
	fmt.Printf("declared %d, used %d, never used %v (%.0f%%), drift %s\n",
		rep.Summary.Declared, rep.Summary.Used, rep.NeverUsed, rep.Summary.NeverPct, rep.Drift[0].Name)
	// Output:
	// declared 2, used 1, never used [fax] (50%), drift dark-mode
}

func ExampleRegistry_Handler() {
	reg, _ := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Shutdown(context.Background())
	reg.MustDefine("search", "team-find", time.Now(), "Full-text search")
	h := reg.Handler(feature.Policy{})
	for _, q := range []string{"?format=csv", "?period=90d"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/features"+q, nil))
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	}
	// Output:
	// 200 text/csv; charset=utf-8
	// 400 text/plain; charset=utf-8
}

func ExampleWithDir() {
	dir, _ := os.MkdirTemp("", "features")
	defer os.RemoveAll(dir)
	for run := 1; run <= 2; run++ { // two runs of the same service
		reg, _ := feature.New(feature.WithDir(dir), feature.WithInstance("web-1"),
			feature.WithMeterProvider(noop.NewMeterProvider()))
		search := reg.MustDefine("search", "team-find", time.Now(), "Full-text search")
		search.UseN(context.Background(), 10)
		fmt.Printf("run %d: %d uses in total\n", run, reg.Stats()[0].Total)
		reg.Shutdown(context.Background()) // saves the snapshot the next run restores
	}
	// Output:
	// run 1: 10 uses in total
	// run 2: 20 uses in total
}

// A test drives the registry on a fake clock: a use right after Advance
// counts at the new time, with no sleep.
func ExampleWithClock() {
	fake := clock.NewFake(time.Date(2025, 3, 12, 23, 59, 0, 0, time.UTC))
	reg, _ := feature.New(feature.WithClock(fake), feature.WithMeterProvider(noop.NewMeterProvider()))
	defer reg.Shutdown(context.Background())
	search := reg.MustDefine("search", "team-find", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Full-text search")

	search.UseN(context.Background(), 5)
	fake.Advance(2 * time.Minute) // past midnight: a new day
	search.Use(context.Background())
	s := reg.Stats()[0]
	fmt.Printf("today %d, total %d, last seen %s\n", s.Today, s.Total, s.LastSeen.Format("2006-01-02 15:04"))
	// Output:
	// today 1, total 6, last seen 2025-03-13 00:01
}

// Shutdown saves the last snapshot; its context bounds the wait for the
// registry's goroutine (a slow disk, a WithOnSave callback).
func ExampleRegistry_Shutdown() {
	dir, _ := os.MkdirTemp("", "features")
	defer os.RemoveAll(dir)
	reg, _ := feature.New(feature.WithDir(dir), feature.WithInstance("web-1"),
		feature.WithMeterProvider(noop.NewMeterProvider()))
	reg.MustDefine("search", "team-find", time.Now(), "Full-text search").Use(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", reg.Shutdown(ctx))
	_, err := os.Stat(dir + "/feature-web-1.snap")
	fmt.Println("snapshot saved:", err == nil)
	// Output:
	// shutdown: <nil>
	// snapshot saved: true
}

// Import backfills months of usage — here 60 days of a feature losing
// users — so a report can be tried on history, from outside the module.
func ExampleRegistry_Import() {
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	reg, err := feature.New(feature.WithClock(clock.NewFake(now)), feature.WithMeterProvider(noop.NewMeterProvider()),
		feature.WithTenantKey([]byte("example key 0123"))) // a fixed key: the same estimates every run
	if err != nil {
		panic(err)
	}
	defer reg.Shutdown(context.Background())
	reg.MustDefine("csv-export", "team-reports", now.AddDate(0, -6, 0), "Export any table as CSV")
	reg.MustDefine("fax", "team-legacy", now.AddDate(0, -6, 0), "Send an invoice by fax")
	for age := 59; age >= 0; age-- {
		var tenants []string
		for i := range 10 + age { // 69 tenants two months ago, 10 today
			tenants = append(tenants, fmt.Sprintf("tenant-%d", i))
		}
		err := reg.Import(feature.DayUsage{Feature: "csv-export", Day: now.AddDate(0, 0, -age),
			Uses: int64(10 * len(tenants)), Failures: 1, Tenants: tenants})
		if err != nil {
			panic(err)
		}
	}
	rep, _ := reg.Report(feature.Policy{})
	fmt.Println(rep.Headline)
	f := rep.Features[0]
	fmt.Printf("%s: %d uses, %d failures, trend %s, %d ±%.1f tenants\n", f.Name, f.Uses, f.Failures, f.Trend, f.Tenants, f.TenantsErr)
	// Output:
	// 50 % of features rarely or never used (1 of 2; rarely: fewer than 3 tenants, 1 % of the 16 ±<1 active tenants)
	// csv-export: 910 uses, 7 failures, trend down, 16 ±0.2 tenants
}

// A support engineer's question, "is tenant acme affected?", answered from
// the registry's filters without any raw tenant id stored.
func ExampleRegistry_Tenant() {
	reg, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		panic(err)
	}
	defer reg.Shutdown(context.Background())
	bulk := reg.MustDefine("orders.bulk", "team-orders", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Bulk orders")
	bulk.FailWith(reg.WithTenant(context.Background(), "acme"), "pricing service answered 503")
	bulk.Use(reg.WithTenant(context.Background(), "globex"))
	for _, id := range []string{"acme", "globex", "initech"} {
		rep, _ := reg.Tenant(id)
		fmt.Printf("%s: %s\n", id, rep.Summary)
	}
	// Output:
	// acme: affected: orders.bulk failed for this tenant in the last 8 days
	// globex: not affected: used 1 feature(s) in the last 8 days, none failed for this tenant
	// initech: no use by this tenant in the last 8 days
}

// A kill switch: the feature is switched off (audited first), refused
// calls count as failed uses, and a trial share lets some through so that
// recovery shows.
func ExampleFeature_Switch() {
	trail := &audittest.Recorder{} // any audit.Sink: an audit.Log in a service
	reg, _ := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithAudit(trail))
	defer reg.Shutdown(context.Background())
	bulk := reg.MustDefine("orders.bulk", "team-orders", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Bulk orders")
	ctx := reg.WithTenant(context.Background(), "acme")
	err := bulk.Switch(ctx, feature.Switch{Actor: "automation", Why: "bulk pricing down", Trial: 0.25})
	fmt.Println(err)
	served := 0
	for range 8 {
		if bulk.Enabled(ctx) { // 1 call in 4 gets through while off
			served++
			bulk.Use(ctx) // the trial's result
		}
	}
	s := bulk.Switched()
	fmt.Printf("on=%v served=%d refused=%d trial ok=%d\n", s.On, served, s.Refused, s.TrialOK)
	fmt.Println(trail.Records()[0].Action, trail.Records()[0].Target, trail.Records()[0].Detail)
	// Output:
	// <nil>
	// on=false served=2 refused=6 trial ok=2
	// feature.switch orders.bulk off (trial 25 %): bulk pricing down
}

// Three replicas sharing a fleet store report the fleet's uses and
// distinct tenants, whichever one is asked.
func ExampleWithStore() {
	store := fleet.NewMemory(nil) // the PostgreSQL store in a real fleet
	var replicas []*feature.Registry
	for i, name := range []string{"a", "b", "c"} {
		reg, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithStore(store), feature.WithInstance(name))
		if err != nil {
			panic(err)
		}
		defer reg.Shutdown(context.Background())
		f := reg.MustDefine("search", "team-find", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Full-text search")
		f.Use(reg.WithTenant(context.Background(), "acme"))                   // every replica serves acme
		f.Use(reg.WithTenant(context.Background(), fmt.Sprint("tenant-", i))) // and one tenant of its own
		reg.Publish(context.Background())                                     // also every snapshot interval
		replicas = append(replicas, reg)
	}
	rep, _ := replicas[0].Report(feature.Policy{})
	fmt.Printf("%d uses by %d tenants, from %v\n", rep.Features[0].Uses, rep.Features[0].Tenants, rep.Instances)
	// Output:
	// 6 uses by 4 tenants, from [a b c]
}
