package function

import (
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/payment"
)

// Listing limits.
const (
	defaultLimit = 50
	maxLimit     = 100
)

type query struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Wait   time.Duration
	List   bool
	Limit  int
}

// parseQuery reads ?id=&userId=[&wait=] (one payment) or ?userId=[&limit=]
// (the list). The golang-http template passes no URL path, so ids come in the
// query string.
func parseQuery(raw string, maxWait time.Duration) (query, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, payment.Errorf(payment.EINVALID, "malformed query string")
	}
	fields := map[string]string{}
	known := map[string]bool{"id": true, "userId": true, "wait": true, "limit": true}
	for name, vs := range values {
		switch {
		case !known[name]:
			fields[name] = "is not a known parameter"
		case len(vs) > 1:
			fields[name] = "must be given once"
		}
	}
	var q query
	q.UserID = parseUUID(values, "userId", true, fields)
	q.List = !values.Has("id")
	if !q.List {
		q.ID = parseUUID(values, "id", true, fields)
		if values.Has("limit") {
			fields["limit"] = "applies only to the list (without id)"
		}
		if values.Has("wait") {
			secs, err := strconv.Atoi(values.Get("wait"))
			// Compared in seconds: a huge value must not overflow the Duration into range.
			if err != nil || secs < 0 || secs > int(maxWait/time.Second) {
				fields["wait"] = "must be whole seconds from 0 to " + strconv.Itoa(int(maxWait/time.Second))
			}
			q.Wait = time.Duration(secs) * time.Second
		}
	} else {
		q.Limit = defaultLimit
		if values.Has("wait") {
			fields["wait"] = "applies only to one payment (with id)"
		}
		if values.Has("limit") {
			n, err := strconv.Atoi(values.Get("limit"))
			if err != nil || n < 1 || n > maxLimit {
				fields["limit"] = "must be a whole number from 1 to " + strconv.Itoa(maxLimit)
			}
			q.Limit = n
		}
	}
	if len(fields) > 0 {
		return query{}, payment.InvalidFields(fields)
	}
	return q, nil
}

func parseUUID(values url.Values, name string, required bool, fields map[string]string) uuid.UUID {
	v := values.Get(name)
	if v == "" {
		if required {
			fields[name] = "is required"
		}
		return uuid.Nil
	}
	id, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		fields[name] = "must be a UUID"
	}
	return id
}
