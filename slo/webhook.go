package slo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"
)

// webhookAlert is the JSON body the Webhook notifier posts.
type webhookAlert struct {
	Objective string   `json:"objective"`
	Tier      string   `json:"tier"`
	Severity  Severity `json:"severity"`
	State     string   `json:"state"`
	Repeat    bool     `json:"repeat,omitempty"`
	StartsAt  string   `json:"starts_at"`
	EndsAt    string   `json:"ends_at,omitempty"`
	At        string   `json:"at"`
	If        string   `json:"if"`
	Do        string   `json:"do"`
	SoThat    string   `json:"so_that"`
	Numbers   Numbers  `json:"numbers"`
	Incident  string   `json:"incident,omitempty"`
	// Labels and Annotations are the ones Alertmanager would get.
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Webhook returns a notifier that POSTs each alert as a JSON object to url
// with client (nil means a client with a 10-second timeout). A response
// other than 2xx is an error.
func Webhook(url string, client *http.Client) Notifier {
	client = orClient(client)
	return NotifierFunc(func(ctx context.Context, a Alert) error {
		body := webhookAlert{Objective: a.Objective, Tier: a.Tier, Severity: a.Severity, State: string(a.State),
			Repeat: a.Repeat, StartsAt: stamp(a.StartsAt), EndsAt: stamp(a.EndsAt), At: stamp(a.At),
			If: a.If, Do: a.Do, SoThat: a.SoThat, Numbers: a.Numbers, Incident: a.Incident,
			Labels: a.Labels, Annotations: a.Annotations}
		return postJSON(ctx, client, url, body)
	})
}

// amAlert is one alert of Alertmanager's v2 API (POST /api/v2/alerts).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AlertmanagerOptions configures the Alertmanager notifier. The zero value
// is usable.
type AlertmanagerOptions struct {
	// Client sends the requests. Nil means a client with a 10s timeout.
	Client *http.Client
	// Labels are added to every alert (e.g. service, team).
	Labels map[string]string
	// GeneratorURL links back to the service, e.g. its /slo page.
	GeneratorURL string
	// Hold is how long Alertmanager keeps a firing alert active without a
	// resend. Zero means 5 minutes; keep it above the resend interval.
	Hold time.Duration
}

// Alertmanager returns a notifier that posts to the v2 API of the
// Alertmanager at baseURL (e.g. "http://alertmanager:9093"). A firing alert
// is sent with endsAt Hold in the future, which resends renew; a resolved
// alert with endsAt set to when it resolved. Labels: the alert's Labels
// (alertname "SLOBurnRate", objective, severity, source "in-process",
// instance, the objective's Labels) over opts.Labels; annotations: the
// alert's Annotations (summary, description, runbook_url, tier, incident,
// the objective's Annotations).
func Alertmanager(baseURL string, opts AlertmanagerOptions) Notifier {
	client := orClient(opts.Client)
	hold := opts.Hold
	if hold <= 0 {
		hold = 5 * time.Minute
	}
	url := strings.TrimRight(baseURL, "/") + "/api/v2/alerts"
	return NotifierFunc(func(ctx context.Context, a Alert) error {
		labels := maps.Clone(opts.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, a.Labels)
		ends := a.At.Add(hold)
		if a.State == Resolved {
			ends = a.EndsAt
		}
		body := []amAlert{{
			Labels: labels, Annotations: a.Annotations,
			StartsAt: stamp(a.StartsAt), EndsAt: stamp(ends), GeneratorURL: opts.GeneratorURL,
		}}
		return postJSON(ctx, client, url, body)
	})
}

func orClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: notifyTimeout}
	}
	return c
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// postJSON posts v and treats anything but 2xx as an error.
func postJSON(ctx context.Context, client *http.Client, url string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("slo: encode notification: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("slo: notify %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("slo: notify: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("slo: notify %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
