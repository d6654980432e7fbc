// Package api is the HTTP edge shared by the functions: JSON answers, the one
// table from error code to status, and the checks every request goes through.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/metrics"
	"handler/function/functions/pkg/payment"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// DefaultRetryAfter is what a 503 or 429 asks the client to wait when the
// error does not say.
const DefaultRetryAfter = 2 * time.Second

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	payment.EINVALID:      http.StatusBadRequest,
	payment.ENOTFOUND:     http.StatusNotFound,
	payment.EMETHOD:       http.StatusMethodNotAllowed,
	payment.ECONFLICT:     http.StatusConflict,
	payment.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	payment.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	payment.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	payment.EINTERNAL:     http.StatusInternalServerError,
	payment.EUNAVAILABLE:  http.StatusServiceUnavailable,
	payment.EUNAUTHORIZED: http.StatusUnauthorized,
	payment.ERATELIMITED:  http.StatusTooManyRequests,
}

// Status returns the HTTP status for err (500 for anything unknown).
func Status(err error) int {
	if status, ok := statusOf[payment.ErrorCode(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Error answers err as {"error": {code, message, fields}}. Internal errors are
// logged and hidden from the client; the rest are the client's business and are
// not logged.
func Error(log *slog.Logger, err error) handler.Response {
	status := Status(err)
	detail := errorDetail{Code: payment.EINTERNAL, Message: "internal error"}
	var e *payment.Error
	// A code missing from the table answers 500 and is hidden like EINTERNAL.
	if errors.As(err, &e) && status != http.StatusInternalServerError {
		detail = errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}
	}
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable:
		log.Error("internal error", "err", err)
	case status == http.StatusServiceUnavailable:
		log.Warn("dependency unavailable", "err", err)
	}
	resp := JSON(status, errorBody{detail})
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		wait := DefaultRetryAfter
		if e != nil && e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		// Whole seconds, rounded up: Retry-After has no fractions.
		resp.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	case http.StatusUnauthorized:
		resp.Header.Set("WWW-Authenticate", `Bearer realm="payments"`)
	}
	return resp
}

// MethodNotAllowed answers a request with the wrong method, naming the right ones.
func MethodNotAllowed(log *slog.Logger, allowed ...string) handler.Response {
	resp := Error(log, payment.Errorf(payment.EMETHOD, "use %s", strings.Join(allowed, " or ")))
	resp.Header.Set("Allow", strings.Join(allowed, ", "))
	return resp
}

// JSON answers v as JSON with the given status.
func JSON(status int, v any) handler.Response {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; failing to encode them is a bug.
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	return handler.Response{
		StatusCode: status,
		Body:       append(body, '\n'),
		Header:     http.Header{"Content-Type": {"application/json"}},
	}
}

// Context returns the request's context. The golang-http template's main does
// not always set one, so a missing context means "no deadline from the caller".
func Context(req handler.Request) context.Context {
	if ctx := req.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// Logger returns the structured JSON logger of a function, to stderr where the
// watchdog and the local runner collect it, and makes it the process default.
func Logger(function string) *slog.Logger {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", function)
	slog.SetDefault(log)
	return log
}

// Authorize checks the request's bearer token against the API keys. With no
// keys configured every request is allowed (local development); the function
// logs that once at start-up. Keys are compared in constant time.
func Authorize(req handler.Request, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	scheme, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	if strings.EqualFold(scheme, "Bearer") && token != "" {
		for _, key := range keys {
			if subtle.ConstantTimeCompare([]byte(token), []byte(key)) == 1 {
				return nil
			}
		}
	}
	return payment.Errorf(payment.EUNAUTHORIZED, "a valid API key is required: Authorization: Bearer <key>")
}

// Serve is the body of every function's Handle: it gets the process's
// dependencies (built on the first call, see package lazy) and hands the
// request to serve. A failed build answers like any other error: 503 when a
// dependency is down, 500 for a bad configuration.
//
// It also times every call for the process's metrics, whose side listener it
// starts on the first call (package metrics).
func Serve[S any](req handler.Request, deps func(context.Context) (S, error), serve func(S, context.Context, handler.Request) handler.Response) (resp handler.Response) {
	startMetrics()
	start := time.Now()
	defer func() {
		status := resp.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		metrics.ObserveRequest(status, time.Since(start))
	}()
	ctx := Context(req)
	s, err := deps(ctx)
	if err != nil {
		return Error(slog.Default(), err)
	}
	return serve(s, ctx, req)
}

// startMetrics opens the metrics listener at METRICS_ADDR, once per process.
var startMetrics = sync.OnceFunc(func() {
	metrics.Start(config.FromOS().String("METRICS_ADDR", ""), slog.Default())
})
