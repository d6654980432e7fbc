package gateway

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one Kafka record as /system/events sends it; the JSON shape is the
// "Local gateway event stream" contract in docs/contracts.md.
type Event struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Key is the record key as text, or standard base64 when it is not UTF-8
	// (the rule the OpenFaaS Kafka connector uses for X-Kafka-Key).
	Key       string    `json:"key"`
	Timestamp time.Time `json:"timestamp"`
	// CloudEvent is nil (JSON null) when the record is not a CloudEvent.
	CloudEvent *CloudEvent `json:"cloudEvent"`
	// UserID is the user whose payment the record is about: the userId of the
	// event's data, or, for events without one (a result), that of the
	// earlier event with the same key. Empty when unknown.
	UserID string `json:"userId,omitempty"`
}

// CloudEvent holds the attributes of a record's CloudEvent that the UI shows.
// Subject and Time are optional in CloudEvents and empty when absent.
type CloudEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Source  string `json:"source"`
	Subject string `json:"subject"`
	Time    string `json:"time"`
}

// EventFromRecord describes a Kafka record. The value is read as a CloudEvent
// in structured mode when the record's content-type header is
// application/cloudevents(+json), in binary mode when it has ce_ headers, and
// not at all otherwise (the CloudEvents Kafka binding's rules). A record that
// claims to be a CloudEvent but lacks a required attribute gets a nil
// CloudEvent, like any other non-event.
func EventFromRecord(topic string, partition int32, offset int64, key, value []byte, headers map[string]string, ts time.Time) Event {
	// Kafka header names are case-sensitive, but producers disagree on case;
	// matching loosely costs nothing here.
	lower := make(map[string]string, len(headers))
	for k, v := range headers {
		lower[strings.ToLower(k)] = v
	}
	ev := Event{
		Topic:     topic,
		Partition: partition,
		Offset:    offset,
		Key:       keyText(key),
		Timestamp: ts.UTC(),
	}
	if isStructured(lower["content-type"]) {
		ev.CloudEvent = structuredCloudEvent(value)
		if ev.CloudEvent != nil {
			var envelope struct {
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(value, &envelope) == nil {
				ev.UserID = dataUserID(envelope.Data)
			}
		}
	} else if _, ok := lower["ce_specversion"]; ok {
		ev.CloudEvent = binaryCloudEvent(lower)
		if ev.CloudEvent != nil {
			ev.UserID = dataUserID(value)
		}
	}
	return ev
}

// dataUserID is the userId field of an event's JSON data, lower-cased, or ""
// when it has none.
func dataUserID(data []byte) string {
	var fields struct {
		UserID string `json:"userId"`
	}
	if len(data) == 0 || json.Unmarshal(data, &fields) != nil {
		return ""
	}
	return strings.ToLower(fields.UserID)
}

func keyText(key []byte) string {
	if utf8.Valid(key) {
		return string(key)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// isStructured reports whether contentType is a single structured-mode event
// (application/cloudevents or application/cloudevents+json), not a batch.
func isStructured(contentType string) bool {
	if contentType == "" {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/cloudevents" || mediaType == "application/cloudevents+json"
}

func structuredCloudEvent(value []byte) *CloudEvent {
	var attrs struct {
		SpecVersion string `json:"specversion"`
		ID          string `json:"id"`
		Type        string `json:"type"`
		Source      string `json:"source"`
		Subject     string `json:"subject"`
		Time        string `json:"time"`
	}
	if err := json.Unmarshal(value, &attrs); err != nil {
		return nil
	}
	return validCloudEvent(attrs.SpecVersion, CloudEvent{
		ID: attrs.ID, Type: attrs.Type, Source: attrs.Source, Subject: attrs.Subject, Time: attrs.Time,
	})
}

func binaryCloudEvent(lower map[string]string) *CloudEvent {
	return validCloudEvent(lower["ce_specversion"], CloudEvent{
		ID:      lower["ce_id"],
		Type:    lower["ce_type"],
		Source:  lower["ce_source"],
		Subject: lower["ce_subject"],
		Time:    lower["ce_time"],
	})
}

// validCloudEvent returns ce when it has the attributes CloudEvents requires.
func validCloudEvent(specVersion string, ce CloudEvent) *CloudEvent {
	if specVersion == "" || ce.ID == "" || ce.Type == "" || ce.Source == "" {
		return nil
	}
	return &ce
}
