package events_test

import (
	"context"
	"net/http"
	"testing"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/payment"
)

// FuzzDecode feeds arbitrary bodies and headers, in every mode, to the
// CloudEvent decoder and the data decoders: they must never panic, and every
// refusal must be EINVALID (a permanent failure, dead-lettered, never retried).
// The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, contentType, ceID, ceType string) {
		header := http.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		if ceID != "" || ceType != "" {
			header.Set("Ce-Specversion", "1.0")
			header.Set("Ce-Id", ceID)
			header.Set("Ce-Type", ceType)
			header.Set("Ce-Source", "/fuzz")
		}
		for _, want := range []string{payment.EventCreated, payment.EventProcessed} {
			e, err := events.Decode(context.Background(), header, body, want)
			if err != nil {
				if code := payment.ErrorCode(err); code != payment.EINVALID {
					t.Fatalf("decode refusal has code %q: %v", code, err)
				}
				continue
			}
			if e.Type() != want {
				t.Fatalf("decoded type %q, want %q", e.Type(), want)
			}
			var dataErr error
			if want == payment.EventCreated {
				_, dataErr = events.CreatedPayment(e)
			} else {
				_, dataErr = events.ProcessedResult(e)
			}
			if dataErr != nil && payment.ErrorCode(dataErr) != payment.EINVALID {
				t.Fatalf("data refusal has code %q: %v", payment.ErrorCode(dataErr), dataErr)
			}
		}
	})
}
