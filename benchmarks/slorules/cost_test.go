package slorules

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// The data set: five instances exporting opskit's events counter, scraped
// every 30 seconds for 30 days (opskit's minute tiles need a scrape
// interval of 30 s or less; a 15 s scrape would double the raw samples
// Sloth's rules read and not change what opskit's long windows read).
const (
	instances      = 5
	scrapeInterval = 30 * time.Second
	// measureInterval is how often the measured Prometheus evaluates each
	// group, instead of every minute, so a run takes seconds; the cost per
	// hour is the cost of one evaluation times 60.
	measureInterval = 2 * time.Second
	warmupRounds    = 3
	measuredRounds  = 20
)

// historyDays is how many days of data the benchmark builds: 30, or
// $OPSKIT_SLORULES_DAYS for a quick look at the mechanics.
func historyDays() int {
	if n, err := strconv.Atoi(os.Getenv("OPSKIT_SLORULES_DAYS")); err == nil && n > 0 {
		return n
	}
	return 30
}

// tsdb is the backfilled data directory, made once per process and
// shared by every run of the benchmark (-count).
var tsdb struct {
	once sync.Once
	dir  string // holds "data"
	err  error
}

// removeData deletes the data set; TestMain calls it when the runs end.
func removeData() {
	if tsdb.dir != "" {
		_ = os.RemoveAll(tsdb.dir)
	}
}

// BenchmarkSLORuleEvaluation measures what evaluating each rule set costs
// a real Prometheus over 30 days of five instances' data: Prometheus' own
// evaluation time of every group of the set (/api/v1/rules), summed, as
// ns/op per evaluation round, and as seconds per hour at the production
// interval of one minute. Both sets read the same raw series; each has
// its own recorded history backfilled with promtool (opskit's minute
// tiles, Sloth's 5-minute ratios), as a Prometheus running them for a
// month would hold.
func BenchmarkSLORuleEvaluation(b *testing.B) {
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() == "1x" {
		b.Skip("builds 30 days of data and runs Prometheus for minutes: make bench runs it")
	}
	prometheus := need(b, "prometheus", "prometheus")
	promtool := need(b, "promtool", "prometheus")
	tsdb.once.Do(func() { tsdb.dir, tsdb.err = buildData(prometheus, promtool) })
	if tsdb.err != nil {
		b.Fatal(tsdb.err)
	}
	opskit, err := slo.Rules(orders)
	if err != nil {
		b.Fatal(err)
	}
	sloth, err := os.ReadFile(slothRules())
	if err != nil {
		b.Fatal(err)
	}
	for _, rs := range []struct{ name, rules, recorded string }{
		// The measured copy evaluates every 2 s; the tiles it records in
		// those seconds add a few samples to a month of minute tiles.
		{"opskit", strings.ReplaceAll(opskit, "interval: 1m\n", "interval: "+fmtSeconds(measureInterval)+"\n"),
			`opskit_slo:events:tile1m{good="true"}`},
		{"sloth", string(sloth), `slo:sli_error:ratio_rate5m`},
	} {
		b.Run(rs.name, func(b *testing.B) {
			var rounds []float64
			for b.Loop() {
				rounds, err = measure(prometheus, rs.name, rs.rules, rs.recorded)
				if err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(rounds)
			median := rounds[len(rounds)/2]
			b.ReportMetric(median*1e9, "ns/op")
			b.ReportMetric(median*60, "eval-s/h")
		})
	}
}

func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) }

// buildData writes historyDays of the events counters of five instances as
// OpenMetrics (one file per day: promtool parses each file once per 2-hour
// block it writes), turns them into TSDB blocks, then backfills the
// recording rules the long windows read.
func buildData(prometheus, promtool string) (string, error) {
	dir, err := os.MkdirTemp("", "opskit-slorules-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	end := time.Now().Truncate(time.Minute)
	days := historyDays()
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	for day := range days {
		from := start.Add(time.Duration(day) * 24 * time.Hour)
		file := filepath.Join(dir, fmt.Sprintf("day%02d.om", day))
		if err := writeDay(file, start, from, from.Add(24*time.Hour)); err != nil {
			return dir, err
		}
		if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", file, data).CombinedOutput(); err != nil {
			return dir, fmt.Errorf("promtool create-blocks-from openmetrics %s: %v\n%s", file, err, out)
		}
		_ = os.Remove(file)
	}
	// Backfill the first rule of each set (opskit's tile, Sloth's 5m
	// ratio) from a Prometheus serving the raw data.
	opskit, err := slo.Rules(orders)
	if err != nil {
		return dir, err
	}
	sloth, err := os.ReadFile(slothRules())
	if err != nil {
		return dir, err
	}
	var files []string
	for name, rules := range map[string]string{"opskit": opskit, "sloth": string(sloth)} {
		first, err := firstRule(rules)
		if err != nil {
			return dir, fmt.Errorf("%s: %w", name, err)
		}
		f := filepath.Join(dir, name+".backfill.yml")
		if err := os.WriteFile(f, []byte(first), 0o600); err != nil {
			return dir, err
		}
		files = append(files, f)
	}
	p, err := startPrometheus(prometheus, dir, "", measureInterval)
	if err != nil {
		return dir, err
	}
	args := append([]string{"tsdb", "create-blocks-from", "rules", "-q", "--url=" + p.url,
		fmt.Sprintf("--start=%d", start.Add(5*time.Minute).Unix()), fmt.Sprintf("--end=%d", end.Unix()),
		"--eval-interval=60s", "--output-dir=" + filepath.Join(dir, "backfill")}, files...)
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if stopErr := p.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return dir, fmt.Errorf("promtool create-blocks-from rules: %v\n%s", err, out)
	}
	blocks, err := os.ReadDir(filepath.Join(dir, "backfill"))
	if err != nil {
		return dir, err
	}
	for _, blk := range blocks {
		if err := os.Rename(filepath.Join(dir, "backfill", blk.Name()), filepath.Join(data, blk.Name())); err != nil {
			return dir, err
		}
	}
	// Hundreds of small, overlapping blocks: let Prometheus compact them
	// before anything is measured, as a month-old Prometheus would have.
	p, err = startPrometheus(prometheus, dir, "", measureInterval)
	if err != nil {
		return dir, err
	}
	err = settle(p.url)
	if stopErr := p.stop(); err == nil {
		err = stopErr
	}
	return dir, err
}

// settle waits until Prometheus has compacted its blocks: the number of
// blocks loaded has not changed for 75 seconds (it compacts once a
// minute), or 15 minutes have passed.
func settle(url string) error {
	var last float64 = -1
	since := time.Now()
	for deadline := time.Now().Add(15 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Second) {
		n, err := selfMetric(url, "prometheus_tsdb_blocks_loaded")
		if err != nil {
			return err
		}
		if n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > 75*time.Second {
			return nil
		}
	}
	return nil // still compacting: measure anyway, the warm-up rounds absorb some of it
}

// selfMetric reads one unlabelled metric from Prometheus' own /metrics.
func selfMetric(url, name string) (float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("prometheus /metrics has no %s", name)
}

// writeDay writes the samples between from and to as OpenMetrics: each
// instance serves 10 events a second with about 0.05% failing, and fails
// everything for 20 minutes a third into the data.
func writeDay(file string, start, from, to time.Time) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "# TYPE opskit_slo_events counter")
	outage := start.Add(time.Duration(historyDays()) * 8 * time.Hour) // a third of the way

	for i := range instances {
		for _, good := range []bool{true, false} {
			// Counters from the start of the data, so each day continues
			// the last.
			var value int64
			for t := start; t.Before(to); t = t.Add(scrapeInterval) {
				n := int64(scrapeInterval.Seconds()) * 10
				bad := int64(0)
				if (t.Unix()/30+int64(i))%7 == 0 {
					bad = 1 // one in 7 scrapes: 1 of 2100 events
				}
				if !t.Before(outage) && t.Before(outage.Add(20*time.Minute)) {
					bad = n
				}
				if good {
					value += n - bad
				} else {
					value += bad
				}
				if !t.Before(from) {
					fmt.Fprintf(w, "opskit_slo_events_total{objective=\"orders\",good=\"%t\",instance=\"i%d\"} %d %d\n", good, i, value, t.Unix())
				}
			}
		}
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// firstRule returns a rule file holding only the first group's first rule
// of rules (its name, interval and the rule's lines).
func firstRule(rules string) (string, error) {
	lines := strings.Split(rules, "\n")
	var out []string
	rulesSeen := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "- record:") || strings.HasPrefix(t, "- alert:") {
			rulesSeen++
		}
		if rulesSeen > 1 || (rulesSeen == 1 && strings.HasPrefix(t, "- name:")) {
			break
		}
		out = append(out, l)
	}
	if rulesSeen == 0 {
		return "", fmt.Errorf("no rule found")
	}
	return strings.Join(out, "\n") + "\n", nil
}

// prom is a running Prometheus.
type prom struct {
	cmd *exec.Cmd
	url string
	log *os.File
}

// startPrometheus starts Prometheus on dir/data with rules (may be empty)
// evaluated every interval, on a free loopback port, and waits until it
// is ready.
func startPrometheus(bin, dir, rules string, interval time.Duration) (*prom, error) {
	config := fmt.Sprintf("global:\n  evaluation_interval: %s\n", fmtSeconds(interval))
	if rules != "" {
		if err := os.WriteFile(filepath.Join(dir, "measured.rules.yml"), []byte(rules), 0o600); err != nil {
			return nil, err
		}
		config += "rule_files: [measured.rules.yml]\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--storage.tsdb.retention.time=400d",
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &prom{cmd: cmd, url: "http://" + addr, log: log}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
	}
	_ = p.stop()
	return nil, fmt.Errorf("prometheus not ready after 2 minutes; see %s", log.Name())
}

func (p *prom) stop() error {
	defer p.log.Close()
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("prometheus did not stop within a minute")
	}
}

// measure runs Prometheus with rules over the data set and returns the
// time it reports for each evaluation round (every group evaluated once),
// after warm-up rounds. It first checks that the series recorded holds
// the backfilled month (one sample a minute), so the long windows read
// what a month-old Prometheus would.
func measure(bin, name, rules, recorded string) ([]float64, error) {
	p, err := startPrometheus(bin, tsdb.dir, rules, measureInterval)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := query(ctx, p.url, fmt.Sprintf("count_over_time(%s[%dd])", recorded, historyDays()))
	if err != nil {
		return nil, err
	}
	if want := float64(historyDays()*24*60) * 0.95; n < want {
		return nil, fmt.Errorf("%s: %s holds %v samples over the data, want at least %v: the backfill is missing", name, recorded, n, want)
	}
	last := map[string]string{} // group -> last evaluation seen
	var rounds []float64
	round := map[string]float64{}
	for len(rounds) < warmupRounds+measuredRounds {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %d rounds measured before the deadline", name, len(rounds))
		}
		groups, err := ruleGroups(ctx, p.url)
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			if g.LastEvaluation != last[g.Name] && !strings.HasPrefix(g.LastEvaluation, "0001") {
				last[g.Name] = g.LastEvaluation
				round[g.Name] = g.EvaluationTime
			}
		}
		if len(groups) > 0 && len(round) == len(groups) {
			var sum float64
			for _, s := range round {
				sum += s
			}
			rounds = append(rounds, sum)
			round = map[string]float64{}
		}
		time.Sleep(measureInterval / 4)
	}
	return rounds[warmupRounds:], nil
}

type ruleGroup struct {
	Name           string  `json:"name"`
	EvaluationTime float64 `json:"evaluationTime"`
	LastEvaluation string  `json:"lastEvaluation"`
}

func ruleGroups(ctx context.Context, url string) ([]ruleGroup, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/rules", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []ruleGroup `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("/api/v1/rules: %w", err)
	}
	return body.Data.Groups, nil
}

// query returns the value of an instant query with one result.
func query(ctx context.Context, url, q string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/query?query="+neturl.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %s: %w", q, err)
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("query %s: %d results, want 1", q, len(body.Data.Result))
	}
	v, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(v, 64)
}
