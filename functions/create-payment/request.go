package function

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/payment"
)

// body is the JSON a client sends. Every field is required; amount may be a
// number or a numeric string.
type body struct {
	UserID        *string         `json:"userId"`
	AccountNumber *string         `json:"accountNumber"`
	Amount        *payment.Amount `json:"amount"`
	Description   *string         `json:"description"`
}

// maxKeyLen bounds the Idempotency-Key header.
const maxKeyLen = 255

// decodeRequest reads and validates a create request and its Idempotency-Key.
// Every error is an *payment.Error a client can act on.
func decodeRequest(req handler.Request, max payment.Amount) (payment.Request, string, error) {
	if len(req.Body) > api.MaxBodyBytes {
		return payment.Request{}, "", payment.Errorf(payment.ETOOLARGE, "request body is over %d bytes", api.MaxBodyBytes)
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return payment.Request{}, "", payment.Errorf(payment.EMEDIATYPE, "Content-Type must be application/json")
		}
	}
	key := req.Header.Get("Idempotency-Key")
	if len(req.Header.Values("Idempotency-Key")) > 1 || (key == "" && len(req.Header.Values("Idempotency-Key")) == 1) ||
		len(key) > maxKeyLen || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return payment.Request{}, "", &payment.Error{Code: payment.EINVALID, Message: "Idempotency-Key must be one header of 1 to 255 printable characters",
			Fields: map[string]string{"Idempotency-Key": "must be one header of 1 to 255 printable characters"}}
	}

	// encoding/json would silently turn invalid UTF-8 into U+FFFD and store
	// text the client never sent.
	if !utf8.Valid(req.Body) {
		return payment.Request{}, "", payment.Errorf(payment.EINVALID, "request body must be valid UTF-8")
	}
	b, err := decodeBody(req.Body)
	if err != nil {
		if errors.Is(err, payment.ErrAmountTooLarge) {
			// Too many digits to read is over the maximum too: say which, as Validate does.
			return payment.Request{}, "", payment.InvalidFields(map[string]string{"amount": "must not exceed " + max.String()})
		}
		return payment.Request{}, "", err
	}

	fields := map[string]string{}
	var r payment.Request
	switch {
	case b.UserID == nil:
		fields["userId"] = "is required"
	default:
		id, err := uuid.Parse(*b.UserID)
		if err != nil || len(*b.UserID) != 36 {
			fields["userId"] = "must be a UUID"
		}
		r.UserID = id
	}
	if b.AccountNumber == nil {
		fields["accountNumber"] = "is required"
	} else {
		r.AccountNumber = *b.AccountNumber
	}
	if b.Amount == nil {
		fields["amount"] = "is required"
	} else {
		r.Amount = *b.Amount
	}
	if b.Description == nil {
		fields["description"] = "is required"
	} else {
		r.Description = *b.Description
	}
	if err := r.Validate(max); err != nil {
		var perr *payment.Error
		if errors.As(err, &perr) {
			for field, msg := range perr.Fields {
				if _, seen := fields[field]; !seen {
					fields[field] = msg
				}
			}
		}
	}
	if len(fields) > 0 {
		return payment.Request{}, "", payment.InvalidFields(fields)
	}
	return r, key, nil
}

// decodeBody reads the body's JSON object in one pass over its keys: each
// must be one of body's fields, given once and spelt exactly (encoding/json
// alone would take "USERID" for userId, and the last of repeated keys), and no
// value may hold a lone surrogate escape. Each value is decoded on its own as
// it comes; decoding the whole body again afterwards was a twentieth of a
// create's CPU. A body that is not one well-formed object is left to
// encoding/json, which explains best what is wrong with it.
func decodeBody(raw []byte) (body, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return decodeWhole(raw)
	}
	var b body
	targets := map[string]any{"userId": &b.UserID, "accountNumber": &b.AccountNumber, "amount": &b.Amount, "description": &b.Description}
	bad := map[string]string{}
	var valueErr error // for the first value of the wrong kind
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeWhole(raw)
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return decodeWhole(raw)
		}
		target, known := targets[key]
		switch {
		case !known:
			bad[key] = "is not a known field"
			continue
		case target == nil:
			bad[key] = "is given more than once"
		case hasLoneSurrogate(value):
			bad[key] = `must not contain a lone UTF-16 surrogate escape such as \ud800: it is not a character`
		case valueErr == nil:
			valueErr = decodeField(key, value, target)
		}
		targets[key] = nil // seen
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return decodeWhole(raw)
	}
	if len(bad) > 0 {
		return body{}, payment.InvalidFields(bad)
	}
	if valueErr != nil {
		return body{}, valueErr
	}
	if _, err := dec.Token(); err != io.EOF {
		return body{}, payment.Errorf(payment.EINVALID, "request body must be a single JSON object")
	}
	return b, nil
}

// decodeField decodes one field's value, with errors as decodeError gives them.
func decodeField(key string, value []byte, target any) error {
	err := json.Unmarshal(value, target)
	if err == nil {
		return nil
	}
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		typeErr.Field = key
	}
	return decodeError(err)
}

// decodeWhole decodes a body that is not one well-formed JSON object the
// plain way, for encoding/json's account of what is wrong (or, for a bare
// null, an empty body whose fields are then all missing).
func decodeWhole(raw []byte) (body, error) {
	var b body
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return body{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return body{}, payment.Errorf(payment.EINVALID, "request body must be a single JSON object")
	}
	return b, nil
}

// decodeError explains a JSON decoding failure, naming the field when it can.
// payment.ErrAmountTooLarge is returned as it is: the caller knows the maximum
// to name.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, payment.ErrAmountTooLarge):
		return err
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return payment.InvalidFields(map[string]string{typeErr.Field: "must be a " + jsonKind(typeErr.Field)})
	case errors.As(err, &typeErr):
		return payment.Errorf(payment.EINVALID, "request body must be a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return payment.Errorf(payment.EINVALID, "request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return payment.InvalidFields(map[string]string{field: "is not a known field"})
	default:
		// The amount's own decoder failed: its message says why.
		return payment.InvalidFields(map[string]string{"amount": err.Error()})
	}
}

func jsonKind(field string) string {
	if field == "amount" {
		return "number or a numeric string"
	}
	return "string"
}

// hasLoneSurrogate reports whether JSON text holds a \u escape of a UTF-16
// surrogate (U+D800 to U+DFFF) that is not a high one followed at once by a
// low one. Such an escape is not a character: encoding/json would silently
// store U+FFFD, text the client never sent.
func hasLoneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped byte: a backslash escaping a backslash is skipped whole
		r, ok := escapedRune(raw, i)
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r >= 0xdc00: // a low surrogate with no high one before it
			return true
		default: // a high surrogate: a low one must follow
			low, ok := escapedRune(raw, i+6)
			if !ok || raw[i+5] != '\\' || low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 10 // the rest of the pair
		}
	}
	return false
}

// escapedRune reads the four hex digits of a \u escape whose u is at raw[i].
func escapedRune(raw []byte, i int) (rune, bool) {
	if i+4 >= len(raw) || raw[i] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
	return rune(n), err == nil
}
