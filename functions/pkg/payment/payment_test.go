package payment_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/payment"
)

var maxAmount = payment.MustParseAmount("1000000.00")

func validRequest() payment.Request {
	return payment.Request{
		UserID:        uuid.MustParse("5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11"),
		AccountNumber: "40817810099910004312",
		Amount:        payment.MustParseAmount("125.50"),
		Description:   "Rent",
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *payment.Request)
		want   map[string]string // the bad fields; nil means valid
	}{
		{name: "valid", change: func(*payment.Request) {}},
		{name: "empty description is allowed", change: func(r *payment.Request) { r.Description = "" }},
		{name: "account number at the limit", change: func(r *payment.Request) { r.AccountNumber = strings.Repeat("1", payment.MaxAccountNumberLen) }},
		{name: "limits count characters, not bytes", change: func(r *payment.Request) {
			r.AccountNumber = strings.Repeat("я", payment.MaxAccountNumberLen)
			r.Description = strings.Repeat("€", payment.MaxDescriptionLen)
		}},
		{name: "any printable text", change: func(r *payment.Request) { r.Description = `'); DROP TABLE payments; -- <script> ✓` }},
		{name: "amount at the maximum", change: func(r *payment.Request) { r.Amount = maxAmount }},
		{name: "smallest amount", change: func(r *payment.Request) { r.Amount = 1 }},

		{name: "missing user", change: func(r *payment.Request) { r.UserID = uuid.Nil },
			want: map[string]string{"userId": "is required"}},
		{name: "missing account number", change: func(r *payment.Request) { r.AccountNumber = "" },
			want: map[string]string{"accountNumber": "is required"}},
		{name: "blank account number", change: func(r *payment.Request) { r.AccountNumber = "   " },
			want: map[string]string{"accountNumber": "is required"}},
		{name: "account number too long", change: func(r *payment.Request) { r.AccountNumber = strings.Repeat("1", payment.MaxAccountNumberLen+1) },
			want: map[string]string{"accountNumber": "must be at most 64 characters"}},
		{name: "newline in account number", change: func(r *payment.Request) { r.AccountNumber = "4081\n7810" },
			want: map[string]string{"accountNumber": "must not contain control characters"}},
		{name: "NUL in account number", change: func(r *payment.Request) { r.AccountNumber = "4081\x007810" },
			want: map[string]string{"accountNumber": "must not contain control characters"}},
		{name: "invalid UTF-8 in account number", change: func(r *payment.Request) { r.AccountNumber = "4081\xff" },
			want: map[string]string{"accountNumber": "must be valid UTF-8"}},
		{name: "description too long", change: func(r *payment.Request) { r.Description = strings.Repeat("x", payment.MaxDescriptionLen+1) },
			want: map[string]string{"description": "must be at most 500 characters"}},
		{name: "NUL in description", change: func(r *payment.Request) { r.Description = "rent\x00" },
			want: map[string]string{"description": "must not contain control characters"}},
		{name: "tab in description", change: func(r *payment.Request) { r.Description = "rent\tmay" },
			want: map[string]string{"description": "must not contain control characters"}},
		{name: "DEL in description", change: func(r *payment.Request) { r.Description = "rent\x7f" },
			want: map[string]string{"description": "must not contain control characters"}},
		{name: "C1 control in description", change: func(r *payment.Request) { r.Description = "rent\u0085" },
			want: map[string]string{"description": "must not contain control characters"}},
		{name: "invalid UTF-8 in description", change: func(r *payment.Request) { r.Description = "\xc3\x28" },
			want: map[string]string{"description": "must be valid UTF-8"}},
		{name: "zero amount", change: func(r *payment.Request) { r.Amount = 0 },
			want: map[string]string{"amount": "must be greater than zero"}},
		{name: "negative amount", change: func(r *payment.Request) { r.Amount = -100 },
			want: map[string]string{"amount": "must be greater than zero"}},
		{name: "amount above the maximum", change: func(r *payment.Request) { r.Amount = maxAmount + 1 },
			want: map[string]string{"amount": "must not exceed 1000000.00"}},
		{name: "every field wrong at once", change: func(r *payment.Request) {
			*r = payment.Request{AccountNumber: "\x00", Description: "\xff", Amount: -1}
		}, want: map[string]string{
			"userId":        "is required",
			"accountNumber": "must not contain control characters",
			"description":   "must be valid UTF-8",
			"amount":        "must be greater than zero",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			tt.change(&r)
			err := r.Validate(maxAmount)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var perr *payment.Error
			if !errors.As(err, &perr) || perr.Code != payment.EINVALID {
				t.Fatalf("Validate = %v, want an %s *payment.Error", err, payment.EINVALID)
			}
			if !maps.Equal(perr.Fields, tt.want) {
				t.Fatalf("fields = %v, want %v", perr.Fields, tt.want)
			}
			for name, msg := range tt.want {
				if !strings.Contains(perr.Message, name+": "+msg) {
					t.Errorf("message %q does not name %s", perr.Message, name)
				}
			}
		})
	}
}

func TestInvalidFieldsMessageIsSortedByField(t *testing.T) {
	err := payment.InvalidFields(map[string]string{"b": "two", "a": "one"})
	if got := err.Error(); got != "invalid_request: a: one; b: two" {
		t.Fatalf("Error() = %q", got)
	}
	if payment.InvalidFields(nil) != nil || payment.InvalidFields(map[string]string{}) != nil {
		t.Fatal("InvalidFields without fields must be nil")
	}
}

func TestFingerprint(t *testing.T) {
	base := validRequest()
	if base.Fingerprint() != validRequest().Fingerprint() {
		t.Fatal("equal requests have different fingerprints")
	}
	same := base
	same.Amount = payment.MustParseAmount("125.5") // the same amount written differently
	if same.Fingerprint() != base.Fingerprint() {
		t.Fatal("125.5 and 125.50 have different fingerprints")
	}
	changes := map[string]func(r *payment.Request){
		"userId":        func(r *payment.Request) { r.UserID = uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10") },
		"accountNumber": func(r *payment.Request) { r.AccountNumber += "0" },
		"amount":        func(r *payment.Request) { r.Amount++ },
		"description":   func(r *payment.Request) { r.Description = "rent" },
		// Moving text across the field boundary must not give the same fingerprint.
		"boundary": func(r *payment.Request) { r.AccountNumber, r.Description = "4081781009991000431", "2Rent" },
	}
	seen := map[string]string{base.Fingerprint(): "base"}
	for name, change := range changes {
		r := validRequest()
		change(&r)
		fp := r.Fingerprint()
		if other, dup := seen[fp]; dup {
			t.Errorf("changing %s gives the fingerprint of %s", name, other)
		}
		seen[fp] = name
	}
}

func TestNew(t *testing.T) {
	id := uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10")
	now := time.Date(2026, 11, 25, 18, 4, 5, 123456789, time.FixedZone("MSK", 3*3600))
	p := payment.New(id, validRequest(), now)
	want := payment.Payment{
		ID: id, UserID: validRequest().UserID, AccountNumber: "40817810099910004312",
		Amount: 12550, Description: "Rent", State: payment.Pending,
		Created: time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC),
	}
	if fmt.Sprint(p) != fmt.Sprint(want) || p.Created.Location() != time.UTC {
		t.Fatalf("New = %+v, want %+v", p, want)
	}
}

func TestStateFinal(t *testing.T) {
	for state, final := range map[payment.State]bool{payment.Pending: false, payment.Completed: true, payment.Rejected: true} {
		if state.Final() != final {
			t.Errorf("%s.Final() = %v", state, !final)
		}
	}
}

func TestApply(t *testing.T) {
	id := uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10")
	at := time.Date(2026, 11, 25, 15, 4, 30, 987654321, time.UTC)
	pending := payment.New(id, validRequest(), at.Add(-time.Minute))
	final := func(state payment.State) payment.Payment {
		p := pending
		processed, details := at.Add(-time.Second), "earlier"
		p.State, p.Processed, p.ExtPaymentDetails = state, &processed, &details
		return p
	}
	tests := []struct {
		name      string
		from      payment.Payment
		result    payment.Result
		wantState payment.State
		wantErr   error  // compared with errors.Is
		wantCode  string // compared with ErrorCode
	}{
		{name: "pending to completed", from: pending,
			result: payment.Result{PaymentID: id, Success: true, Details: "ref 1", Processed: at}, wantState: payment.Completed},
		{name: "pending to rejected", from: pending,
			result: payment.Result{PaymentID: id, Success: false, Details: "no funds", Processed: at}, wantState: payment.Rejected},
		{name: "duplicate success", from: final(payment.Completed),
			result: payment.Result{PaymentID: id, Success: true, Processed: at}, wantErr: payment.ErrAlreadyApplied},
		{name: "duplicate rejection", from: final(payment.Rejected),
			result: payment.Result{PaymentID: id, Success: false, Processed: at}, wantErr: payment.ErrAlreadyApplied},
		{name: "completed cannot become rejected", from: final(payment.Completed),
			result: payment.Result{PaymentID: id, Success: false, Processed: at}, wantCode: payment.EINVALID},
		{name: "rejected cannot become completed", from: final(payment.Rejected),
			result: payment.Result{PaymentID: id, Success: true, Processed: at}, wantCode: payment.EINVALID},
		{name: "result for another payment", from: pending,
			result: payment.Result{PaymentID: uuid.New(), Success: true, Processed: at}, wantCode: payment.EINVALID},
		{name: "processed before the payment was created", from: pending,
			result: payment.Result{PaymentID: id, Success: true, Processed: pending.Created.Add(-time.Microsecond)}, wantCode: payment.EINVALID},
		{name: "processed in 1999", from: pending,
			result: payment.Result{PaymentID: id, Success: true, Processed: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, wantCode: payment.EINVALID},
		{name: "details over the limit", from: pending,
			result: payment.Result{PaymentID: id, Success: true, Details: strings.Repeat("é", payment.MaxDetailsBytes/2) + "x", Processed: at}, wantCode: payment.EINVALID},
		{name: "details at the limit", from: pending,
			result: payment.Result{PaymentID: id, Success: true, Details: strings.Repeat("é", payment.MaxDetailsBytes/2), Processed: at}, wantState: payment.Completed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.from
			before := fmt.Sprint(p)
			err := p.Apply(tt.result)
			switch {
			case tt.wantErr != nil || tt.wantCode != "":
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply = %v, want %v", err, tt.wantErr)
				}
				if tt.wantCode != "" && payment.ErrorCode(err) != tt.wantCode {
					t.Fatalf("Apply = %v, want code %s", err, tt.wantCode)
				}
				if after := fmt.Sprint(p); after != before {
					t.Fatalf("a refused result changed the payment:\n%s\n%s", before, after)
				}
			case err != nil:
				t.Fatalf("Apply = %v", err)
			default:
				if p.State != tt.wantState || p.Processed == nil || p.ExtPaymentDetails == nil {
					t.Fatalf("after Apply: %+v", p)
				}
				if want := at.Truncate(time.Microsecond); !p.Processed.Equal(want) || p.Processed.Location() != time.UTC {
					t.Errorf("processed = %v, want %v in UTC", p.Processed, want)
				}
				if *p.ExtPaymentDetails != tt.result.Details {
					t.Errorf("details = %q, want %q", *p.ExtPaymentDetails, tt.result.Details)
				}
			}
		})
	}
}

// A result processed in the very microsecond the payment was created is possible.
func TestApplyProcessedAtCreation(t *testing.T) {
	p := payment.New(uuid.New(), validRequest(), time.Date(2026, 11, 25, 15, 4, 30, 987654321, time.UTC))
	// Nanoseconds below the stored microsecond do not count as earlier.
	if err := p.Apply(payment.Result{PaymentID: p.ID, Success: true, Processed: p.Created.Add(999)}); err != nil || p.State != payment.Completed {
		t.Fatalf("Apply = %v, state %s", err, p.State)
	}
}

func TestErrorCode(t *testing.T) {
	notFound := payment.Errorf(payment.ENOTFOUND, "payment %d not found", 7)
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("boom"), payment.EINTERNAL},
		{notFound, payment.ENOTFOUND},
		{fmt.Errorf("get: %w", notFound), payment.ENOTFOUND},
		{payment.Unavailable("database", errors.New("refused")), payment.EUNAVAILABLE},
	}
	for _, tt := range tests {
		if got := payment.ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if notFound.Error() != "not_found: payment 7 not found" {
		t.Errorf("Error() = %q", notFound.Error())
	}
	cause := errors.New("connection refused")
	down := payment.Unavailable("database", cause)
	if !errors.Is(down, cause) || down.Message != "database is unavailable, retry later" ||
		down.Error() != "unavailable: database is unavailable, retry later: connection refused" {
		t.Errorf("Unavailable = %#v (%v)", down, down)
	}
}
