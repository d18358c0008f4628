// Package retry retries calls to a downstream without making its outage
// worse: exponential backoff with jitter, a retry budget, a circuit breaker,
// a client-side rate limit and an http.RoundTripper composing them.
package retry
