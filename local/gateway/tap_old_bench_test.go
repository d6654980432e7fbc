package gateway

import (
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

type cloudEvent = cloudevents.Event

// publishTapRecord does what the runner's tap did per record.
func publishTapRecord(hub *Events, topic string, partition int32, offset int64, key, value []byte, headers map[string]string, ts time.Time) {
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[k] = v
	}
	hub.Publish(EventFromRecord(topic, partition, offset, key, value, h, ts))
}
