//go:build integration

package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"handler/function/functions/pkg/payment"
	"handler/function/local/gateway"
)

// eventFeed follows two payments through the connector's tap into the
// gateway's /system/events: a visitor's stream holds their payment's created
// and processed records and nothing of anyone else's, and the admin's holds
// both users'.
func (f *fixture) eventFeed(t *testing.T) {
	users := f.createMany(t, 2, 2)
	f.waitFinal(t, users, 2)
	mine, theirs := f.mustPaymentOf(t, users[0]), f.mustPaymentOf(t, users[1])

	seen := map[string]bool{}
	f.readEvents(t, "?userId="+url.QueryEscape(strings.ToUpper(users[0].String())), func(ev gateway.Event) bool {
		if ev.UserID != users[0].String() || ev.Key != mine.ID.String() {
			t.Fatalf("the visitor's stream has %s/%d/%d of user %q, key %q", ev.Topic, ev.Partition, ev.Offset, ev.UserID, ev.Key)
		}
		if ev.CloudEvent != nil {
			seen[ev.CloudEvent.Type] = true
		}
		return seen[payment.EventCreated] && seen[payment.EventProcessed]
	})

	f.readEvents(t, "", func(ev gateway.Event) bool {
		return ev.Key == theirs.ID.String() && ev.UserID == users[1].String() &&
			ev.CloudEvent != nil && ev.CloudEvent.Type == payment.EventProcessed
	})
}

// readEvents reads the gateway's /system/events (the replay, then live
// events) as its admin until done returns true.
func (f *fixture) readEvents(t *testing.T, query string, done func(gateway.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.stack.GatewayURL+"/system/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = f.admin()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /system/events%s: %d", query, resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		var ev gateway.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %s: %v", data, err)
		}
		if done(ev) {
			return
		}
	}
	t.Fatalf("/system/events%s ended before the wanted events (%v)", query, lines.Err())
}
