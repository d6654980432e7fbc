package connector

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"handler/function/local/stack"
)

// DefaultDLQSuffix names a topic's dead-letter topic: "payments" → "payments.dlq"
// (docs/contracts.md). EnsureTopics always uses it.
const DefaultDLQSuffix = ".dlq"

// Defaults. The in-flight bound is sized with Little's law for the slowest
// function in stack.yml: process-payment holds each call for the provider's
// delay, up to 25 s, so keeping up with the local stack's stated rate of 500
// payments/s needs 500 × 25 = 12,500 calls in flight at worst (7,000 on
// average, at the 14 s mean delay). 16,384 leaves room for records that wait
// in retry backoff while holding a slot. Each call in flight costs a goroutine
// and, over HTTP/1.1, a connection to the gateway (Config.GatewayHTTP2 lets
// the calls share a few), and the gateway's connection to the function: where
// the open-file limit is lower than that needs, local/runner lowers the bounds
// (Config.MaxInFlightOf) in proportion to each function's exec_timeout.
const (
	DefaultMaxInFlight    = 16384
	DefaultMaxAttempts    = 10
	DefaultBaseDelay      = time.Second
	DefaultMaxDelay       = 30 * time.Second
	DefaultRequestTimeout = 90 * time.Second
	DefaultCommitInterval = 2 * time.Second
	DefaultDrainTimeout   = 30 * time.Second
	DefaultContentType    = "text/plain"
)

// RetryPolicy says how often and how patiently a record is re-sent to its function.
//
// The defaults (10 attempts, 1 s doubling to a 30 s cap, with jitter) keep a record
// for about two to two and a half minutes of failures: long enough to ride out a
// gateway restart or a function redeploy, short enough that a function that is
// really broken fills its dead-letter topic instead of holding thousands of
// in-flight slots. Dead letters can be replayed (ReplayDeadLetters).
type RetryPolicy struct {
	// MaxAttempts counts every call, the first included; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the wait before the second attempt; it doubles per attempt.
	BaseDelay time.Duration
	// MaxDelay caps the wait between attempts (and any Retry-After the gateway sends).
	MaxDelay time.Duration
}

// Config is everything the connector needs. Zero fields take the defaults above
// (WithDefaults, which New applies); Validate reports what cannot be defaulted.
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port).
	Brokers []string
	// GatewayURL is the OpenFaaS gateway, e.g. http://127.0.0.1:8080; records are
	// POSTed to <GatewayURL>/function/<name>.
	GatewayURL string
	// Functions are the stack's functions. Those with topics (Function.Topics) get
	// a Kafka consumer group named after the function; those with a schedule
	// (Function.Schedule) are invoked by the cron part; the rest are ignored.
	Functions []stack.Function

	// MaxInFlight bounds the records of one function being delivered at once,
	// across all its partitions; polling pauses while the bound is reached.
	MaxInFlight int
	// MaxInFlightOf overrides MaxInFlight for the functions it names.
	MaxInFlightOf map[string]int
	// Retry is the delivery retry policy.
	Retry RetryPolicy
	// RequestTimeout bounds one call to the gateway. The default is longer than the
	// slowest function's exec_timeout in stack.yml (60 s) so that the function and
	// the gateway decide when a call has failed, not the connector.
	RequestTimeout time.Duration
	// CommitInterval is how often finished offsets are committed. A crash
	// redelivers at most the records finished since the last commit.
	CommitInterval time.Duration
	// DrainTimeout bounds how long Run waits, after its context ends, for calls
	// already in flight. Calls still running then are abandoned and not committed,
	// so they are delivered again on the next start.
	DrainTimeout time.Duration
	// DLQSuffix is appended to a topic's name to get its dead-letter topic.
	DLQSuffix string
	// ContentType is sent when a record has no content-type header; the OpenFaaS
	// Kafka connector's default is text/plain.
	ContentType string
	// CronEvery, when positive, replaces every function's cron schedule with a
	// fixed interval (the local runner uses 5 s so nobody waits a minute).
	CronEvery time.Duration

	// Tap, when set, is called once for every record appended to a subscribed
	// topic or its dead-letter topic after Run starts, whoever produced it. It
	// runs on one goroutine, in order per partition, and must not block: hand
	// the record to a buffered fan-out.
	Tap func(Record)

	// Logger receives the connector's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registry receives the connector's metrics (consumer lag, retries, dead
	// letters); nil means they are kept but not exported.
	Registry prometheus.Registerer
	// GatewayHTTP2 says the gateway accepts HTTP/2 without TLS (as the local
	// gateway does): calls then share a few connections. Over HTTP/1.1 each
	// call in flight holds a connection, and MaxInFlight connections can pass
	// the machine's open-file limit.
	GatewayHTTP2 bool
	// HTTPClient calls the gateway; when nil one is built for MaxInFlight
	// concurrent calls. Redirects should not be followed.
	HTTPClient *http.Client
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retry.BaseDelay == 0 {
		c.Retry.BaseDelay = DefaultBaseDelay
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = DefaultMaxDelay
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DLQSuffix == "" {
		c.DLQSuffix = DefaultDLQSuffix
	}
	if c.ContentType == "" {
		c.ContentType = DefaultContentType
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every setting that is wrong once the defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if len(c.Brokers) == 0 && c.hasTopics() {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	if u, err := url.Parse(c.GatewayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("gateway URL %q: want http(s)://host[:port]", c.GatewayURL))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("max in-flight %d: must be at least 1", c.MaxInFlight))
	}
	for name, n := range c.MaxInFlightOf {
		if n < 0 {
			errs = append(errs, fmt.Errorf("max in-flight of %s %d: must not be negative", name, n))
		}
	}
	if c.Retry.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("retry max attempts %d: must be at least 1", c.Retry.MaxAttempts))
	}
	if c.Retry.BaseDelay <= 0 || c.Retry.MaxDelay < c.Retry.BaseDelay {
		errs = append(errs, fmt.Errorf("retry delays: want 0 < base (%s) <= max (%s)", c.Retry.BaseDelay, c.Retry.MaxDelay))
	}
	for name, d := range map[string]time.Duration{
		"request timeout": c.RequestTimeout,
		"commit interval": c.CommitInterval,
		"drain timeout":   c.DrainTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", name, d))
		}
	}
	if c.CronEvery < 0 {
		errs = append(errs, fmt.Errorf("cron interval %s: must not be negative", c.CronEvery))
	}
	if strings.TrimSpace(c.DLQSuffix) == "" {
		errs = append(errs, errors.New("empty dead-letter topic suffix"))
	}
	seen := map[string]bool{}
	for _, fn := range c.Functions {
		if fn.Name == "" {
			errs = append(errs, errors.New("a function has no name"))
			continue
		}
		if seen[fn.Name] {
			errs = append(errs, fmt.Errorf("function %s: listed twice", fn.Name))
		}
		seen[fn.Name] = true
		for _, t := range fn.Topics() {
			if strings.HasSuffix(t, c.DLQSuffix) {
				// Consuming a dead-letter topic with the connector would dead-letter
				// into <topic>.dlq.dlq; replay is the way back.
				errs = append(errs, fmt.Errorf("function %s: topic %s is a dead-letter topic", fn.Name, t))
			}
		}
		if strings.Contains(fn.Annotations["topic"], stack.CronTopic) {
			if _, err := cron.ParseStandard(fn.Schedule()); err != nil {
				errs = append(errs, fmt.Errorf("function %s: schedule %q: %w", fn.Name, fn.Schedule(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// DLQTopic returns the dead-letter topic of topic.
func (c Config) DLQTopic(topic string) string { return topic + c.DLQSuffix }

func (c Config) hasTopics() bool {
	for _, fn := range c.Functions {
		if len(fn.Topics()) > 0 {
			return true
		}
	}
	return false
}
