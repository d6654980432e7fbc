package connector

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header values the connector sends, as the OpenFaaS connectors name them.
const (
	kafkaConnectorName = "local-kafka-connector"
	cronConnectorName  = "cron-connector"
	headerPrefix       = "X-Kafka-"
)

// invoker calls functions through the gateway.
type invoker struct {
	client      *http.Client
	gateway     string
	contentType string
	timeout     time.Duration
}

// newHTTPClient returns a client for up to maxConns concurrent gateway calls,
// over HTTP/2 without TLS when http2 is set (Config.GatewayHTTP2).
// Redirects are not followed: the gateway never redirects a function call, and
// following one would turn the POST into a GET and lose the record's body.
func newHTTPClient(maxConns int, http2 bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	if http2 {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (inv *invoker) functionURL(name string) string {
	return strings.TrimRight(inv.gateway, "/") + "/function/" + url.PathEscape(name)
}

// result is the outcome of one call.
type result struct {
	status     int           // 0 when no response arrived
	body       string        // the start of the response body, for dead-letter reasons
	err        error         // transport error or timeout
	retryAfter time.Duration // the gateway's Retry-After, if any
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// retryable follows Knative's delivery rule (eventing-kafka-broker's dispatcher,
// isRetryableStatusCode): 5xx, 404, 408, 409, 429 and calls that got no answer are
// retried; 2xx is success; any other status is final, 3xx included.
func (r result) retryable() bool {
	if r.err != nil {
		return true
	}
	switch {
	case r.status >= 500, r.status == http.StatusNotFound, r.status == http.StatusRequestTimeout,
		r.status == http.StatusConflict, r.status == http.StatusTooManyRequests:
		return true
	}
	return false
}

func (r result) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	if r.body == "" {
		return fmt.Sprintf("status %d", r.status)
	}
	return fmt.Sprintf("status %d: %s", r.status, r.body)
}

// maxReasonBody is how much of a failed response's body is kept for logs and
// the dlq-reason header; maxDrainBody is how much more is read so the
// connection can be reused.
const (
	maxReasonBody = 512
	maxDrainBody  = 64 << 10
)

// MaxResponseBody is as much of a function's answer as the connector looks
// at (the start of a failure's, for its reason): a transport that buffers
// answers (gateway.Transport) need keep no more.
const MaxResponseBody = maxReasonBody

// call makes one POST to the function and reports what happened. ctx cancels
// the call; the per-call timeout is applied here.
func (inv *invoker) call(ctx context.Context, function string, body []byte, header http.Header) result {
	ctx, cancel := context.WithTimeout(ctx, inv.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inv.functionURL(function), bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header = header
	resp, err := inv.client.Do(req)
	if err != nil {
		return result{err: fmt.Errorf("call %s: %w", function, err)}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	if !res.ok() {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxReasonBody))
		res.body = strings.ToValidUTF8(strings.TrimSpace(string(snippet)), "?")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	return res
}

// recordHeader builds the HTTP headers for a record the way the OpenFaaS Kafka
// connector does: X-Topic, X-Kafka-Partition, X-Kafka-Offset, X-Kafka-Key and
// every record header as X-Kafka-<Header>. Content-Type is the record's own
// content-type header when it has one (so structured CloudEvents arrive as
// application/cloudevents+json), otherwise the configured default.
//
// HTTP cannot carry arbitrary bytes: a key or header value that is not valid
// UTF-8, or holds control characters, is sent base64-encoded (standard
// alphabet), and a header whose name is not a valid HTTP token, or would
// shadow X-Kafka-Partition, -Offset or -Key, is left out.
func (inv *invoker) recordHeader(r *kgo.Record) http.Header {
	h := http.Header{}
	h.Set("X-Topic", r.Topic)
	h.Set("X-Kafka-Partition", strconv.FormatInt(int64(r.Partition), 10))
	h.Set("X-Kafka-Offset", strconv.FormatInt(r.Offset, 10))
	if r.Key != nil {
		h.Set("X-Kafka-Key", headerValue(r.Key))
	}
	contentType := inv.contentType
	for _, rh := range r.Headers {
		name := headerPrefix + rh.Key
		if !validHeaderName(name) || reserved[http.CanonicalHeaderKey(name)] {
			continue
		}
		value := headerValue(rh.Value)
		h.Add(name, value)
		if strings.EqualFold(rh.Key, "content-type") && value != "" {
			contentType = value
		}
	}
	h.Set("Content-Type", contentType)
	h.Set("X-Connector", kafkaConnectorName)
	return h
}

// reserved are the X-Kafka-* headers the connector sets itself; a record header
// of the same name must not add a second, conflicting value.
var reserved = map[string]bool{"X-Kafka-Partition": true, "X-Kafka-Offset": true, "X-Kafka-Key": true}

// headerValue returns v as text when HTTP can carry it unchanged, else base64.
func headerValue(v []byte) string {
	if utf8.Valid(v) && !bytes.ContainsFunc(v, isControl) {
		return string(v)
	}
	return base64.StdEncoding.EncodeToString(v)
}

func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || c == 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff returns the wait after the given failed attempt (1-based): base
// doubling per attempt up to the cap, with "equal jitter" (a random point in the
// upper half) so that records failing together do not retry together, while
// the wait still grows. A longer Retry-After from the gateway wins, up to the cap.
func (p RetryPolicy) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	d = d/2 + rand.N(d/2+1)
	return min(max(d, retryAfter), p.MaxDelay)
}
