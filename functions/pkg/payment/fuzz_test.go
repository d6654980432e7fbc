package payment_test

import (
	"encoding/json"
	"testing"

	"handler/function/functions/pkg/payment"
)

// FuzzParseAmount: whatever ParseAmount accepts is a non-negative number of
// cents that prints and parses back to itself, and reads the same from JSON as
// a string and as a number.
func FuzzParseAmount(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := payment.ParseAmount(s)
		if err != nil {
			return
		}
		if a < 0 {
			t.Fatalf("%q parsed to negative %d", s, a)
		}
		back, err := payment.ParseAmount(a.String())
		if err != nil || back != a {
			t.Fatalf("%q → %d → %q → %d, %v", s, a, a.String(), back, err)
		}
		var fromString, fromNumber payment.Amount
		if err := json.Unmarshal([]byte(`"`+s+`"`), &fromString); err != nil || fromString != a {
			t.Fatalf("JSON string %q: %d, %v", s, fromString, err)
		}
		if err := json.Unmarshal([]byte(s), &fromNumber); err == nil && fromNumber != a {
			t.Fatalf("JSON number %s: %d, want %d", s, fromNumber, a)
		}
	})
}
