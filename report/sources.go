package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// Sources are the records a report is made from. Each is optional: a nil
// source makes its section say "not configured". The interfaces are the
// methods the opskit types already have, so a *slo.Monitor, a
// queue.Backend and a *feature.Registry are sources as they are; tests
// pass fakes.
type Sources struct {
	// Objectives gives the compliance section (and the releases' verdicts):
	// a *slo.Monitor.
	Objectives ObjectiveSource
	// Incidents lists incidents: IncidentLog reads an slo incident log,
	// which holds every incident; a Monitor's Incidents method keeps only
	// the last 50.
	Incidents IncidentSource
	// Audit lists operator actions over a time range: AuditLog reads an
	// audit log file.
	Audit AuditSource
	// Queue is the retry queue: a queue.Backend.
	Queue QueueSource
	// Features is the feature catalog: a *feature.Registry.
	Features FeatureSource
	// FeaturePolicy is the policy the features section asks Features for,
	// with its Days and End replaced by the week's UTC days; its zero value
	// is feature's default thresholds.
	FeaturePolicy feature.Policy
	// Release is what this process runs; the zero value says nothing.
	Release release.Info
}

// ObjectiveSource is what a report reads of an slo.Monitor: the objectives and
// their exact event counts over a time range.
type ObjectiveSource interface {
	Status() []slo.Status
	Range(objective string, from, to time.Time) (slo.RangeStatus, error)
}

// IncidentSource returns every incident that may overlap [from, to): it may
// return more (the report keeps those that do).
type IncidentSource func(ctx context.Context, from, to time.Time) ([]slo.Incident, error)

// AuditSource returns the audit records whose time is in [from, to), oldest
// first. On an error it returns the records it read before it.
type AuditSource func(ctx context.Context, from, to time.Time) ([]audit.Record, error)

// QueueSource is what a report reads of a queue.Backend.
type QueueSource interface {
	Stats(ctx context.Context) (queue.Stats, error)
}

// FeatureSource is what a report reads of a *feature.Registry.
type FeatureSource interface {
	Report(p feature.Policy) (*feature.Report, error)
}

// IncidentLog reads the slo incident log at path (slo.WithIncidentLog) and
// folds it into incidents. A missing file is no incidents. A malformed line
// is an error; the incidents of the other lines are still returned.
func IncidentLog(path string) IncidentSource {
	return func(ctx context.Context, from, to time.Time) ([]slo.Incident, error) {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report: incident log: %w", err)
		}
		defer f.Close()
		recs, err := slo.ReadIncidentLog(f)
		if err != nil {
			err = fmt.Errorf("report: incident log %s: %w", path, err)
		}
		return slo.Incidents(recs), err
	}
}

// AuditLog reads the audit log at path (audit.Open), verifying its chain
// with key, and returns the records in [from, to). A missing file is no
// records. A record that does not verify ends the reading with its
// *audit.ChainError; the records before it are returned. The records are
// read from the start of the file each time: a report reads a log once a
// week.
func AuditLog(path string, key []byte) AuditSource {
	return func(ctx context.Context, from, to time.Time) ([]audit.Record, error) {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report: audit log: %w", err)
		}
		defer f.Close()
		rd := audit.NewReader(f, key)
		var out []audit.Record
		for {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("report: audit log: %w", err)
			}
			e, err := rd.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, fmt.Errorf("report: audit log %s: %w", path, err)
			}
			if !e.Time.Before(from) && e.Time.Before(to) {
				out = append(out, e.Record)
			}
		}
	}
}

// maxFleetIncidentRecords bounds what IncidentFleet reads.
const maxFleetIncidentRecords = 100_000

// IncidentFleet reads the fleet's incident log from store (slo.WithStore
// writes it under slo.FleetIncidentKind) and folds it into incidents, as
// IncidentLog does for a file. It reads the log from its start, at most
// 100,000 records; a malformed record is an error, the others' incidents
// are still returned.
func IncidentFleet(store fleet.Store) IncidentSource {
	return func(ctx context.Context, from, to time.Time) ([]slo.Incident, error) {
		var lines bytes.Buffer
		var after uint64
		for n := 0; n < maxFleetIncidentRecords; {
			recs, err := store.Records(ctx, slo.FleetIncidentKind, after, fleet.MaxRecords)
			if err != nil {
				return nil, fmt.Errorf("report: fleet incident log: %w", err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				lines.Write(bytes.ReplaceAll(r.Data, []byte("\n"), []byte(" ")))
				lines.WriteByte('\n')
			}
			after, n = recs[len(recs)-1].Seq, n+len(recs)
		}
		recs, err := slo.ReadIncidentLog(&lines)
		if err != nil {
			err = fmt.Errorf("report: fleet incident log: %w", err)
		}
		return slo.Incidents(recs), err
	}
}

// AuditFleet reads the fleet's audit trail from store (audit.FleetSink),
// verified with key: the records in [from, to), by audit.ReadFleetRange.
// On a record that does not verify it returns the records before it and
// the error.
func AuditFleet(store fleet.Store, key []byte) AuditSource {
	return func(ctx context.Context, from, to time.Time) ([]audit.Record, error) {
		es, err := audit.ReadFleetRange(ctx, store, key, from, to)
		out := make([]audit.Record, len(es))
		for i, e := range es {
			out[i] = e.Record
		}
		if err != nil {
			err = fmt.Errorf("report: fleet audit trail: %w", err)
		}
		return out, err
	}
}
