package function

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/payment"
)

// FuzzDecodeRequest feeds arbitrary bodies, content types and idempotency keys
// to the request decoder: it must never panic, everything it accepts must be a
// valid request, and everything it refuses must be a client error (4xx) with a
// code. The seed corpus is in testdata/fuzz/FuzzDecodeRequest; run
// `go test -fuzz FuzzDecodeRequest ./functions/create-payment` to explore.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"userId":"5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11","accountNumber":"4081","amount":"125.50","description":"rent"}`), "application/json", "")
	f.Add([]byte(`{"userId":"5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11","accountNumber":"4081","amount":1e3,"description":""}`), "", "k")
	max := payment.MustParseAmount("1000000.00")
	f.Fuzz(func(t *testing.T, body []byte, contentType, key string) {
		req := handler.Request{Method: http.MethodPost, Body: body, Header: http.Header{}}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		r, _, err := decodeRequest(req, max)
		if err != nil {
			var perr *payment.Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %v is not a *payment.Error", err)
			}
			if status := api.Status(err); status < 400 || status > 499 {
				t.Fatalf("bad input answered %d (%v)", status, err)
			}
			return
		}
		if err := r.Validate(max); err != nil {
			t.Fatalf("accepted an invalid request %+v: %v", r, err)
		}
		// Text is stored as sent: U+FFFD only where the client wrote one.
		sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		if !sentFFFD && strings.ContainsRune(r.AccountNumber+r.Description, utf8.RuneError) {
			t.Fatalf("accepted %q as %+v: a replacement character the client did not send", body, r)
		}
	})
}
