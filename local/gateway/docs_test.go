package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"handler/function/local/stack"
)

func TestDocsRenderTheRepositoryOpenAPIDocument(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Functions: []stack.Function{{Name: "create-payment"}},
		Upstream:  (&Upstreams{}).Lookup,
		OpenAPI:   raw,
		// Only the documentation is looked at.
		AdminPassword: "unused",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	body := mustGet(t, srv.URL+"/docs", "text/html; charset=utf-8")
	for _, want := range []string{
		"/function/create-payment", "/function/get-payment", "/function/process-payment",
		"/function/apply-result", "/function/relay-outbox", "Idempotency-Key", "PaymentRequest",
		"extPaymentDetails", "Retry-After",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/docs does not mention %q", want)
		}
	}
	if got := mustGet(t, srv.URL+"/openapi.yaml", "application/yaml"); got != string(raw) {
		t.Error("/openapi.yaml is not the document")
	}
}

func mustGet(t *testing.T, url, contentType string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(body)
}
