package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/payment"
)

// errorJSON is the error body as a client reads it; Fields is a map so that a
// present-but-empty "fields" is told apart from an absent one.
type errorJSON struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func MustDecodeError(tb testing.TB, resp handler.Response) errorJSON {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q", ct)
	}
	var body errorJSON
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("error body %s: %v", resp.Body, err)
	}
	return body
}

func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestStatusTable(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{payment.EINVALID, http.StatusBadRequest},
		{payment.ENOTFOUND, http.StatusNotFound},
		{payment.EMETHOD, http.StatusMethodNotAllowed},
		{payment.ECONFLICT, http.StatusConflict},
		{payment.ETOOLARGE, http.StatusRequestEntityTooLarge},
		{payment.EMEDIATYPE, http.StatusUnsupportedMediaType},
		{payment.EIDEMPOTENCY, http.StatusUnprocessableEntity},
		{payment.EINTERNAL, http.StatusInternalServerError},
		{payment.EUNAVAILABLE, http.StatusServiceUnavailable},
		{"no_such_code", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := payment.Errorf(tt.code, "something")
			if got := api.Status(err); got != tt.status {
				t.Fatalf("Status(%s) = %d, want %d", tt.code, got, tt.status)
			}
			if got := api.Status(fmt.Errorf("wrapped: %w", err)); got != tt.status {
				t.Fatalf("Status(wrapped %s) = %d, want %d", tt.code, got, tt.status)
			}
			log, _ := newLogger()
			resp := api.Error(log, err)
			if resp.StatusCode != tt.status {
				t.Fatalf("Error(%s).StatusCode = %d, want %d", tt.code, resp.StatusCode, tt.status)
			}
			retry := resp.Header.Get("Retry-After")
			if (tt.status == http.StatusServiceUnavailable) != (retry != "") {
				t.Fatalf("status %d with Retry-After %q", tt.status, retry)
			}
		})
	}
	if got := api.Status(errors.New("boom")); got != http.StatusInternalServerError {
		t.Fatalf("Status(plain error) = %d", got)
	}
}

func TestErrorBody(t *testing.T) {
	log, logs := newLogger()
	err := &payment.Error{
		Code: payment.EINVALID, Message: "amount: must be greater than zero",
		Fields: map[string]string{"amount": "must be greater than zero"},
	}
	resp := api.Error(log, fmt.Errorf("decode: %w", err))
	body := MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" ||
		body.Error.Message != "amount: must be greater than zero" ||
		!maps.Equal(body.Error.Fields, map[string]string{"amount": "must be greater than zero"}) {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if logs.Len() != 0 {
		t.Errorf("a client error was logged: %s", logs)
	}
}

func TestErrorOmitsFieldsWhenThereAreNone(t *testing.T) {
	log, _ := newLogger()
	resp := api.Error(log, payment.Errorf(payment.ENOTFOUND, "payment 1 not found"))
	want := `{"error":{"code":"not_found","message":"payment 1 not found"}}` + "\n"
	if string(resp.Body) != want {
		t.Fatalf("body = %s, want %s", resp.Body, want)
	}
}

func TestInternalErrorsAreHiddenAndLogged(t *testing.T) {
	tests := map[string]error{
		"plain error":     errors.New("pq: password authentication failed for user secret"),
		"internal code":   &payment.Error{Code: payment.EINTERNAL, Message: "pq: password authentication failed for user secret"},
		"unknown code":    payment.Errorf("weird", "pq: password authentication failed for user secret"),
		"wrapped plainly": fmt.Errorf("store: %w", errors.New("pq: password authentication failed for user secret")),
	}
	for name, err := range tests {
		t.Run(name, func(t *testing.T) {
			log, logs := newLogger()
			resp := api.Error(log, err)
			body := MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusInternalServerError || body.Error.Code != "internal" ||
				body.Error.Message != "internal error" || body.Error.Fields != nil {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if strings.Contains(string(resp.Body), "secret") {
				t.Fatalf("the cause leaked to the client: %s", resp.Body)
			}
			if !strings.Contains(logs.String(), "password authentication failed") {
				t.Fatalf("the cause was not logged: %q", logs)
			}
		})
	}
}

func TestUnavailableHasRetryAfter(t *testing.T) {
	log, logs := newLogger()
	resp := api.Error(log, payment.Unavailable("database", errors.New("dial tcp: connection refused")))
	body := MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" ||
		body.Error.Code != "unavailable" || body.Error.Message != "database is unavailable, retry later" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	if strings.Contains(string(resp.Body), "dial tcp") {
		t.Fatalf("the cause leaked to the client: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("the outage was not logged: %q", logs)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	log, _ := newLogger()
	resp := api.MethodNotAllowed(log, http.MethodGet, http.MethodHead)
	body := MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
		body.Error.Code != "method_not_allowed" || body.Error.Message != "use GET or HEAD" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
}

func TestJSON(t *testing.T) {
	resp := api.JSON(http.StatusCreated, map[string]string{"a": "b"})
	if resp.StatusCode != http.StatusCreated || string(resp.Body) != "{\"a\":\"b\"}\n" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, resp.Body)
	}
	bad := api.JSON(http.StatusOK, make(chan int))
	body := MustDecodeError(t, bad)
	if bad.StatusCode != http.StatusInternalServerError || body.Error.Code != "internal" {
		t.Fatalf("unencodable value: %d %s", bad.StatusCode, bad.Body)
	}
}

func TestContextDefaultsToBackground(t *testing.T) {
	if api.Context(handler.Request{}) == nil {
		t.Fatal("Context of a request without one is nil")
	}
	req := handler.Request{}
	req.WithContext(t.Context())
	ctx := api.Context(req)
	if ctx != t.Context() {
		t.Fatal("Context did not return the request's context")
	}
}
