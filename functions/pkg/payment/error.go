package payment

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Every failure a caller should react to carries one; the HTTP
// adapter owns the single table from code to status.
const (
	EINVALID      = "invalid_request"        // the input is wrong; retrying will not help
	ENOTFOUND     = "not_found"              // no such payment (for this user)
	ECONFLICT     = "conflict"               // the request clashes with the current state
	EIDEMPOTENCY  = "idempotency_key_reused" // same Idempotency-Key, different request
	ETOOLARGE     = "too_large"              // the request body is over the limit
	EMEDIATYPE    = "unsupported_media_type" // the body is not in a format we read
	EMETHOD       = "method_not_allowed"     // wrong HTTP method
	EUNAUTHORIZED = "unauthorized"           // no or a wrong API key
	ERATELIMITED  = "rate_limited"           // too many requests from this user; retry later
	EUNAVAILABLE  = "unavailable"            // a dependency is down; retry later
	EINTERNAL     = "internal"               // a bug or an unexpected failure
)

// Error is the one error type of the project. Message is safe to show to a
// client; Err (if any) is the underlying cause, kept for logs.
type Error struct {
	Code    string
	Message string
	// Fields names the request fields that are wrong, by their JSON names.
	Fields map[string]string
	// RetryAfter, when set, says when a retry may succeed (rate limits, overload).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable marks err as a failure of a dependency that may recover.
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable, retry later", Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
