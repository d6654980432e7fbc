// Package functest holds what the functions' unit tests share: a fake Kafka
// publisher, CloudEvents as the HTTP requests connectors send, and the JSON
// error body. It needs no services, like the tests that use it.
package functest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/outbox"
)

// EventKey is the key the unit tests sign events with.
const EventKey = "functest-event-key-0123456789abcdef"

// EventKeys sign and verify with EventKey.
var EventKeys = eventsig.MustNew(EventKey)

// Signed returns e signed with EventKey, as the stack's producers sign.
func Signed(e cloudevents.Event) cloudevents.Event {
	EventKeys.Sign(&e)
	return e
}

// MustSecretsDir returns a secrets folder (OPENFAAS_SECRETS_DIR) holding
// payments-event-key with EventKey.
func MustSecretsDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, eventsig.SecretName), []byte(EventKey+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Publisher records what it is asked to publish, and fails with Err when set.
type Publisher struct {
	mu   sync.Mutex
	sent []outbox.Message
	Err  error
}

// PublishJSON records the event, sent in structured mode, or returns Err.
func (p *Publisher) PublishJSON(_ context.Context, topic, key string, event []byte) error {
	e := cloudevents.NewEvent()
	if err := json.Unmarshal(event, &e); err != nil {
		return fmt.Errorf("not a structured CloudEvent: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Err != nil {
		return p.Err
	}
	p.sent = append(p.sent, outbox.Message{Topic: topic, Key: key, Event: e, JSON: event})
	return nil
}

// Messages returns what was published, in order.
func (p *Publisher) Messages() []outbox.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

// BinaryRequest is e in binary mode, as Knative's KafkaSource delivers it:
// attributes and extensions (the partition key, the signature) in ce-
// headers, the data as the body.
func BinaryRequest(e cloudevents.Event) handler.Request {
	h := http.Header{}
	h.Set("Ce-Specversion", e.SpecVersion())
	h.Set("Ce-Id", e.ID())
	h.Set("Ce-Source", e.Source())
	h.Set("Ce-Type", e.Type())
	h.Set("Ce-Subject", e.Subject())
	h.Set("Ce-Time", e.Time().Format(time.RFC3339Nano))
	for name, value := range e.Extensions() {
		h.Set("Ce-"+name, fmt.Sprint(value))
	}
	h.Set("Content-Type", e.DataContentType())
	return handler.Request{Method: http.MethodPost, Header: h, Body: e.Data()}
}

// MustStructuredRequest is e as one JSON document with the given content type:
// application/cloudevents+json, or text/plain as the OpenFaaS connector sends it.
func MustStructuredRequest(tb testing.TB, e cloudevents.Event, contentType string) handler.Request {
	tb.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		tb.Fatal(err)
	}
	return handler.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {contentType}}, Body: body}
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// MustDecodeError reads an error answer, failing unless it is JSON with a code and a message.
func MustDecodeError(tb testing.TB, resp handler.Response) ErrorBody {
	tb.Helper()
	var body ErrorBody
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		tb.Fatalf("status %d, body %s is not a JSON error (%v)", resp.StatusCode, resp.Body, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q", ct)
	}
	return body
}

// StallBound is how soon a function must answer 503 while Postgres is frozen:
// DB_TIMEOUT (3 s by default) and some slack, far inside the golang-http
// template's own 10 s.
const StallBound = 6 * time.Second

// WantUnavailableWithin calls call and reports an error unless it answers
// within bound with 503, a Retry-After and an "unavailable" JSON error: what a
// client or a connector must get from a function whose dependency has
// stalled. It returns how long the answer took. Safe in any goroutine (it
// never stops the test), and it does not wait past bound for an answer that
// does not come: the call is left to finish on its own.
func WantUnavailableWithin(tb testing.TB, bound time.Duration, call func() handler.Response) time.Duration {
	tb.Helper()
	start := time.Now()
	answer := make(chan handler.Response, 1)
	go func() { answer <- call() }()
	var resp handler.Response
	select {
	case resp = <-answer:
	case <-time.After(bound):
		tb.Errorf("no answer within %s, want 503 unavailable with Retry-After", bound)
		return bound
	}
	took := time.Since(start)
	var body ErrorBody
	if err := json.Unmarshal(resp.Body, &body); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		tb.Errorf("after %s: %d %v %s, want 503 unavailable with Retry-After", took, resp.StatusCode, resp.Header, resp.Body)
	}
	return took
}
