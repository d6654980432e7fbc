package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"strconv"
	"strings"
	"sync"
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
		ev.CloudEvent, ev.UserID = structuredCloudEvent(value)
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

// structuredCloudEvent reads a structured event's attributes and its data's
// userId (lower-cased) in one pass. A data that is no object, or a userId
// that is no string, names no user but spoils nothing else: encoding/json
// reports the type error and fills in the rest.
func structuredCloudEvent(value []byte) (*CloudEvent, string) {
	var event struct {
		SpecVersion string `json:"specversion"`
		CloudEvent
		Data struct {
			UserID string `json:"userId"`
		} `json:"data"`
	}
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(value, &event); err != nil &&
		!(errors.As(err, &typeErr) && (typeErr.Field == "data" || strings.HasPrefix(typeErr.Field, "data."))) {
		return nil, ""
	}
	ce := validCloudEvent(event.SpecVersion, event.CloudEvent)
	if ce == nil {
		return nil, ""
	}
	return ce, strings.ToLower(event.Data.UserID)
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

// subscriberBuffer is how many events may wait for one /system/events client
// before it counts as slow and is disconnected.
const subscriberBuffer = 256

// maxOwners is how many record keys (payment ids) the hub remembers the user
// of, for the events that do not name one; the oldest are forgotten first.
// A result follows its payment's creation by seconds, so this covers every
// payment in flight at thousands per second.
const maxOwners = 50_000

// Events is the hub behind /system/events: it keeps the last events for
// replay and fans new ones out to subscribers. Publish never waits for a
// subscriber: one whose buffer is full is disconnected, and its EventSource
// client reconnects with Last-Event-ID and resumes from the history, so a slow
// reader sees a reconnect rather than a silent gap.
//
// The feed sees every record of every topic and most of the time nobody
// watches, so an event is encoded only when the first subscriber that wants
// it, live or in a replay, needs it.
type Events struct {
	log *slog.Logger
	// epoch makes event ids unique across gateway restarts, so a client that
	// reconnects to a new gateway with an old Last-Event-ID gets the whole
	// history instead of nothing.
	epoch string

	mu      sync.Mutex
	history []slot // ring buffer of the last len(history) events
	start   int    // index of the oldest event in history
	count   int
	lastSeq uint64
	subs    map[*subscription]struct{}
	// owners maps a record key to its user, with ownerKeys the keys in the
	// order they were learnt (a ring of maxOwners).
	owners    map[string]string
	ownerKeys []string
	nextOwner int
	// orphans maps a record key to the events published under it before its
	// user was known (by seq), with orphanKeys the keys in the order they were
	// met (a ring of maxOwners). The tap reads the topics' partitions from
	// several brokers at once, so a payment's result can arrive before its
	// creation; when the creation comes, its user adopts them (adopt).
	orphans    map[string][]uint64
	orphanKeys []string
	nextOrphan int
}

// slot is a published event of the history, with its message once a
// subscriber wanted it (msg.data is nil until then).
type slot struct {
	seq uint64
	ev  Event
	msg message
}

// message is a published event, encoded once for every subscriber.
type message struct {
	seq  uint64
	id   string
	user string
	data []byte
}

type subscription struct {
	ch chan message
	// user, when set, limits the subscription to that user's events.
	user string
}

// wants reports whether the subscriber receives the events of user.
func (s *subscription) wants(user string) bool { return s.user == "" || s.user == user }

// NewEvents returns a hub that replays the last history events to new
// subscribers.
func NewEvents(history int, logger *slog.Logger) *Events {
	if history < 1 {
		history = 1
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Events{
		log:     logger,
		epoch:   strconv.FormatInt(time.Now().UnixNano(), 36),
		history: make([]slot, history),
		subs:    make(map[*subscription]struct{}),
		owners:  make(map[string]string),
		orphans: make(map[string][]uint64),
	}
}

// owner fills in ev.UserID from an earlier event with the same key, or
// remembers it for the later ones (and reports that it is new: the events
// that came first may be waiting for it). e.mu must be held.
func (e *Events) owner(ev *Event) (learnt bool) {
	if ev.Key == "" {
		return false
	}
	if ev.UserID == "" {
		ev.UserID = e.owners[ev.Key]
		return false
	}
	if _, known := e.owners[ev.Key]; known {
		e.owners[ev.Key] = ev.UserID
		return false
	}
	remember(&e.ownerKeys, &e.nextOwner, ev.Key, func(old string) { delete(e.owners, old) })
	e.owners[ev.Key] = ev.UserID
	return true
}

// remember adds key to a ring of at most maxOwners keys, forgetting the
// oldest (drop) once it is full.
func remember(ring *[]string, next *int, key string, drop func(string)) {
	if len(*ring) < maxOwners {
		*ring = append(*ring, key)
		return
	}
	drop((*ring)[*next])
	(*ring)[*next] = key
	*next = (*next + 1) % maxOwners
}

// adopt files the events that arrived under key before its user was known
// under that user now, and sends them to that user's subscribers (everyone
// else's already had them: the admin's, which want every event). e.mu must
// be held.
func (e *Events) adopt(key, user string) {
	seqs, ok := e.orphans[key]
	if !ok {
		return
	}
	delete(e.orphans, key)
	oldest := e.lastSeq - uint64(e.count) + 1
	for _, seq := range seqs {
		if seq < oldest {
			continue // left the history
		}
		s := &e.history[(e.start+int(seq-oldest))%len(e.history)]
		s.ev.UserID, s.msg = user, message{}
		for sub := range e.subs {
			if sub.user == user {
				e.send(sub, s)
			}
		}
	}
}

// Publish records ev and sends it to every subscriber that wants it, without
// blocking.
func (e *Events) Publish(ev Event) {
	// json.Marshal fails only on a time that RFC 3339 cannot write (a year
	// outside 0–9999): such an event is dropped now, not when someone wants it.
	if _, err := ev.Timestamp.MarshalText(); err != nil {
		e.log.Warn("event dropped: cannot encode", "topic", ev.Topic, "offset", ev.Offset, "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	learnt := e.owner(&ev)
	e.lastSeq++
	s := &e.history[(e.start+e.count)%len(e.history)]
	if e.count < len(e.history) {
		e.count++
	} else {
		e.start = (e.start + 1) % len(e.history)
	}
	*s = slot{seq: e.lastSeq, ev: ev}
	for sub := range e.subs {
		if sub.wants(ev.UserID) {
			e.send(sub, s)
		}
	}
	switch {
	case learnt:
		e.adopt(ev.Key, ev.UserID)
	case ev.UserID == "" && ev.Key != "":
		if _, waiting := e.orphans[ev.Key]; !waiting {
			remember(&e.orphanKeys, &e.nextOrphan, ev.Key, func(old string) { delete(e.orphans, old) })
		}
		e.orphans[ev.Key] = append(e.orphans[ev.Key], s.seq)
	}
}

// send hands s to sub without blocking; a subscriber whose buffer is full is
// disconnected. e.mu must be held.
func (e *Events) send(sub *subscription, s *slot) {
	select {
	case sub.ch <- e.message(s):
	default:
		delete(e.subs, sub)
		close(sub.ch)
		e.log.Warn("event stream subscriber too slow, disconnected", "buffered", cap(sub.ch))
	}
}

// message returns s as subscribers get it, encoding it on first use. e.mu
// must be held.
func (e *Events) message(s *slot) message {
	if s.msg.data == nil {
		data, _ := json.Marshal(s.ev) // cannot fail: Publish checked the time
		s.msg = message{seq: s.seq, id: e.epoch + "-" + strconv.FormatUint(s.seq, 10), user: s.ev.UserID, data: data}
	}
	return s.msg
}

// subscribe returns the retained events after lastEventID (all of them when
// it is empty or from another epoch) and a subscription for the events that
// follow, with no gap and no overlap between the two; with user set, only
// that user's events.
func (e *Events) subscribe(lastEventID, user string) ([]message, *subscription) {
	after := uint64(0)
	if epoch, seq, ok := strings.Cut(lastEventID, "-"); ok && epoch == e.epoch {
		if n, err := strconv.ParseUint(seq, 10, 64); err == nil {
			after = n
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	sub := &subscription{ch: make(chan message, subscriberBuffer), user: user}
	var replay []message
	for i := range e.count {
		s := &e.history[(e.start+i)%len(e.history)]
		if s.seq > after && sub.wants(s.ev.UserID) {
			replay = append(replay, e.message(s))
		}
	}
	e.subs[sub] = struct{}{}
	return replay, sub
}

// unsubscribe ends sub; it is a no-op when Publish already disconnected it.
func (e *Events) unsubscribe(sub *subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[sub]; ok {
		delete(e.subs, sub)
		close(sub.ch)
	}
}
