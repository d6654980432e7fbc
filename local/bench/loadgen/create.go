// Package loadgen is the benchmark's load generator for create-payment. It
// runs in a child process of its own, so that the CPU its HTTP client uses is
// measured apart from the stack's: the benchmark's own process also holds the
// gateway, the connector and the embedded Kafka, and what those cost per
// create is what the benchmark reports (the original service's figure has no
// load generator in it either).
//
// Run starts the benchmark's own executable with the argument ChildArg and
// writes a Spec as JSON on its stdin; Child, in that process, runs the load
// and writes one Message per line on its stdout: progress and the payments
// created so far every so often, then the run's summary.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"handler/function/local/bench/load"
	"handler/function/local/runner"
)

// RequestTimeout bounds one create; anything slower is a failure.
const RequestTimeout = 30 * time.Second

// NewClient is a load generator's HTTP client: enough idle connections that
// a thousand long-polls, or a burst of open-loop requests, each keep theirs,
// and at most half the connections the gateway takes from all its callers
// (runner.MaxClientConns). At its cap the gateway closes an idle connection
// to make room, and a POST sent on it just then fails ("server closed idle
// connection"); below the cap that never happens, and a call past the bound
// waits here for a connection, its latency counting from when it was due.
func NewClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = runner.MaxClientConns / 2
	tr.MaxIdleConnsPerHost = runner.MaxClientConns / 2
	tr.MaxConnsPerHost = runner.MaxClientConns / 2
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// Create makes one payment at url (the gateway's route, or create-payment's
// own port) for a user of its own, so the per-user rate limit (10/s, bursts
// of 20) never applies, and returns its id. A deliberate refusal (503 or 429
// with Retry-After: nothing was done, come back later) is a *load.Refused.
func Create(ctx context.Context, client *http.Client, url, apiKey string) (uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	body := fmt.Appendf(nil, `{"userId":%q,"accountNumber":"40817810099910004312","amount":"125.50","description":"Rent"}`, uuid.New())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return uuid.Nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return uuid.Nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return uuid.Nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		err := fmt.Errorf("create: %d %s", resp.StatusCode, shorten(raw))
		if shed(resp) {
			return uuid.Nil, &load.Refused{Err: err}
		}
		return uuid.Nil, err
	}
	var created struct {
		PaymentID uuid.UUID `json:"paymentId"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.PaymentID == uuid.Nil {
		return uuid.Nil, fmt.Errorf("create: answer without a payment id: %s", shorten(raw))
	}
	return created.PaymentID, nil
}

// shed tells a deliberate refusal from a failure.
func shed(resp *http.Response) bool {
	return (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) &&
		resp.Header.Get("Retry-After") != ""
}

// shorten keeps an error message's copy of a response body short.
func shorten(b []byte) string {
	const most = 200
	s := strings.TrimSpace(string(b))
	if len(s) > most {
		s = s[:most] + "…"
	}
	return s
}
