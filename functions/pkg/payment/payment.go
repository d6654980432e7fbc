// Package payment is the domain: a payment, its states and the one transition
// between them, and the events that carry it between functions. It knows nothing
// of HTTP, Kafka or Postgres.
package payment

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// State is where a payment is in its life: pending until the provider answers,
// then completed or rejected for good.
type State string

const (
	Pending   State = "pending"
	Completed State = "completed"
	Rejected  State = "rejected"
)

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == Completed || s == Rejected }

// Limits on the text fields. Any printable text is accepted and stored verbatim.
const (
	MaxAccountNumberLen = 64
	MaxDescriptionLen   = 500
	// MaxDetailsBytes bounds the provider's details in a result (UTF-8 bytes).
	MaxDetailsBytes = 1024
)

// Payment is one payment as the user sees it. The JSON names are the original
// API's, so its clients keep working.
type Payment struct {
	ID                uuid.UUID  `json:"paymentId"`
	UserID            uuid.UUID  `json:"userId"`
	AccountNumber     string     `json:"accountNumber"`
	Amount            Amount     `json:"amount"`
	Description       string     `json:"description"`
	State             State      `json:"state"`
	Created           time.Time  `json:"created"`
	Processed         *time.Time `json:"processed"`
	ExtPaymentDetails *string    `json:"extPaymentDetails"`
}

// Request is what a user asks for when creating a payment.
type Request struct {
	UserID        uuid.UUID
	AccountNumber string
	Amount        Amount
	Description   string
}

// Validate checks the request against the rules of the domain; max is the
// largest amount allowed. The error is an EINVALID *Error naming every bad field.
func (r Request) Validate(max Amount) error {
	fields := map[string]string{}
	if r.UserID == uuid.Nil {
		fields["userId"] = "is required"
	}
	if msg := checkText(r.AccountNumber, MaxAccountNumberLen); msg != "" {
		fields["accountNumber"] = msg
	} else if strings.TrimSpace(r.AccountNumber) == "" {
		fields["accountNumber"] = "is required"
	}
	if msg := checkText(r.Description, MaxDescriptionLen); msg != "" {
		fields["description"] = msg
	}
	switch {
	case r.Amount <= 0:
		fields["amount"] = "must be greater than zero"
	case r.Amount > max:
		fields["amount"] = "must not exceed " + max.String()
	}
	return InvalidFields(fields)
}

func checkText(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("must be at most %d characters", max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "must not contain control characters"
	}
	return ""
}

// InvalidFields returns an EINVALID *Error naming each bad field, or nil if
// there is none.
func InvalidFields(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	parts := make([]string, 0, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, name+": "+fields[name])
	}
	return &Error{Code: EINVALID, Message: strings.Join(parts, "; "), Fields: fields}
}

// Fingerprint identifies the content of a request, to tell a replay of an
// Idempotency-Key from a different request that reuses it.
func (r Request) Fingerprint() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{
		r.UserID.String(), r.AccountNumber, r.Amount.String(), r.Description,
	}, "\x00")))
	return hex.EncodeToString(sum[:])
}

// New makes the pending payment for a valid request.
func New(id uuid.UUID, r Request, now time.Time) Payment {
	return Payment{
		ID:            id,
		UserID:        r.UserID,
		AccountNumber: r.AccountNumber,
		Amount:        r.Amount,
		Description:   r.Description,
		State:         Pending,
		// Postgres keeps microseconds; truncating here keeps what we answer
		// equal to what we store.
		Created: now.UTC().Truncate(time.Microsecond),
	}
}

// Event types, versioned: a change to an event's data that old consumers cannot
// read gets a new version.
const (
	// EventCreated carries the new Payment as its data.
	EventCreated = "dev.paymentpet.payment.created.v1"
	// EventProcessed carries the provider's Result as its data.
	EventProcessed = "dev.paymentpet.payment.processed.v1"
)

// Result is the provider's answer for one payment.
type Result struct {
	PaymentID uuid.UUID `json:"paymentId"`
	Success   bool      `json:"success"`
	Details   string    `json:"extPaymentDetails"`
	Processed time.Time `json:"processed"`
}

// ErrAlreadyApplied says a result was applied before: a redelivered event. It
// is not a failure; the caller acknowledges it and changes nothing.
var ErrAlreadyApplied = errors.New("result already applied")

// Apply moves a pending payment to its final state. Applying the same outcome
// again returns ErrAlreadyApplied; a different outcome for a final payment is an
// impossible transition (EINVALID), since the provider answers once. A result
// that cannot be true is refused too (EINVALID): one processed before the
// payment was created, or with details over MaxDetailsBytes.
func (p *Payment) Apply(r Result) error {
	if r.PaymentID != p.ID {
		return Errorf(EINVALID, "result for payment %s applied to payment %s", r.PaymentID, p.ID)
	}
	if len(r.Details) > MaxDetailsBytes {
		return Errorf(EINVALID, "result for payment %s: extPaymentDetails is %d bytes, at most %d allowed", p.ID, len(r.Details), MaxDetailsBytes)
	}
	processed := r.Processed.UTC().Truncate(time.Microsecond)
	if processed.Before(p.Created) {
		return Errorf(EINVALID, "result for payment %s: processed at %s, before the payment was created at %s",
			p.ID, processed.Format(time.RFC3339Nano), p.Created.UTC().Format(time.RFC3339Nano))
	}
	next := Rejected
	if r.Success {
		next = Completed
	}
	if p.State.Final() {
		if p.State == next {
			return ErrAlreadyApplied
		}
		return Errorf(EINVALID, "payment %s is %s and cannot become %s", p.ID, p.State, next)
	}
	details := r.Details
	p.State, p.Processed, p.ExtPaymentDetails = next, &processed, &details
	return nil
}
