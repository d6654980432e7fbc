package gateway

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Record is a Kafka record for the event feed. PublishRecord reads its slices
// only during the call and copies what it keeps, so a Kafka client's buffers
// are neither retained nor shared.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one Kafka record header.
type RecordHeader struct {
	Key   string
	Value []byte
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
// The feed sees every record of every topic, and most of the time nobody
// watches: so a record is kept as it came, copied into buffers its ring slot
// reuses, and turned into the JSON of an Event only when the first
// subscriber that wants it, live or in a replay, needs it. Publishing reads
// only what ownership needs: the userId of a structured event's data, in one
// pass that allocates nothing (scanStructured).
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
}

// slot is one event of the history: a record as published, and its message
// once some subscriber wanted it.
type slot struct {
	seq  uint64
	user string
	// The record: value holds a structured CloudEvent that scanStructured
	// reads, and is nil for a record that is no CloudEvent.
	topic      string
	partition  int32
	offset     int64
	timestamp  time.Time
	key, value []byte
	// decoded is the event when it was decoded at publication: one given
	// to Publish, or a record scanStructured leaves to encoding/json.
	decoded *Event
	// msg.data is nil until the slot is first sent.
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
	}
}

// Publish records an event decoded elsewhere (an EventSource's) and sends it
// to every subscriber that wants it, without blocking.
func (e *Events) Publish(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev.UserID = e.owner(ev.Key, ev.UserID)
	data, err := json.Marshal(ev)
	if err != nil {
		// Only a timestamp outside years 0–9999 can get here.
		e.log.Warn("event dropped: cannot encode", "topic", ev.Topic, "offset", ev.Offset, "err", err)
		return
	}
	s := e.append(ev.UserID)
	s.decoded = &ev
	s.msg = e.newMessage(s, data)
	e.fanOut(s)
}

// PublishRecord records a Kafka record (see EventFromRecord for how it is
// read) and sends it to every subscriber that wants it, without blocking.
func (e *Events) PublishRecord(r Record) {
	// Events carry UTC times, which appendEventJSON writes within years 0–9999.
	if !encodable(r.Timestamp.UTC()) {
		e.log.Warn("event dropped: cannot encode its timestamp", "topic", r.Topic, "offset", r.Offset)
		return
	}
	var (
		structured bool
		user       []byte
		decoded    *Event
	)
	switch contentType, binary := cloudEventHeaders(r.Headers); {
	case isStructuredBytes(contentType):
		f, ok := scanStructured(r.Value)
		switch {
		case !ok:
			decoded = eventFromRecord(r)
		case f.valid():
			structured, user = true, f.userID
		}
	case binary:
		decoded = eventFromRecord(r)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	var s *slot
	if decoded != nil {
		decoded.UserID = e.owner(decoded.Key, decoded.UserID)
		s = e.append(decoded.UserID)
		s.decoded = decoded
	} else {
		s = e.append(e.recordOwner(r.Key, user))
		s.topic, s.partition, s.offset, s.timestamp = r.Topic, r.Partition, r.Offset, r.Timestamp
		s.key = reuse(s.key, r.Key)
		if structured {
			s.value = reuse(s.value, r.Value)
		}
	}
	e.fanOut(s)
}

// encodable reports whether json.Marshal can write ts, a UTC time: RFC 3339
// has four-digit years only.
func encodable(ts time.Time) bool {
	y := ts.Year()
	return y >= 0 && y <= 9999
}

// reuse copies src into buf, reusing buf's memory unless it is much larger
// than needed (one large record must not pin its size in the slot forever).
func reuse(buf, src []byte) []byte {
	if cap(buf) < len(src) || cap(buf) > 4096 && cap(buf) > 4*len(src) {
		buf = make([]byte, 0, len(src))
	}
	return append(buf[:0], src...)
}

// cloudEventHeaders returns a record's content type and whether it has a
// ce_specversion header; names match regardless of case.
func cloudEventHeaders(headers []RecordHeader) (contentType []byte, binary bool) {
	for _, h := range headers {
		switch {
		case strings.EqualFold(h.Key, "content-type"):
			contentType = h.Value
		case strings.EqualFold(h.Key, "ce_specversion"):
			binary = true
		}
	}
	return contentType, binary
}

// isStructuredBytes is isStructured, without parsing the content type the
// stack writes.
func isStructuredBytes(contentType []byte) bool {
	if string(contentType) == "application/cloudevents+json" {
		return true
	}
	return len(contentType) > 0 && isStructured(string(contentType))
}

// eventFromRecord is EventFromRecord for r.
func eventFromRecord(r Record) *Event {
	headers := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	ev := EventFromRecord(r.Topic, r.Partition, r.Offset, r.Key, r.Value, headers, r.Timestamp)
	return &ev
}

// valid reports whether the event has the attributes CloudEvents requires.
func (f *ceFields) valid() bool {
	return len(f.specVersion) > 0 && len(f.id) > 0 && len(f.typ) > 0 && len(f.source) > 0
}

// append starts the next slot of the ring, overwriting the oldest when it is
// full, and returns it. e.mu must be held.
func (e *Events) append(user string) *slot {
	var s *slot
	if e.count < len(e.history) {
		s = &e.history[(e.start+e.count)%len(e.history)]
		e.count++
	} else {
		s = &e.history[e.start]
		e.start = (e.start + 1) % len(e.history)
	}
	e.lastSeq++
	// The buffers stay for reuse; the message, once sent, belongs to its
	// subscribers and is never written again.
	*s = slot{seq: e.lastSeq, user: user, key: s.key[:0], value: s.value[:0]}
	return s
}

// fanOut sends s to every subscriber that wants it. e.mu must be held.
func (e *Events) fanOut(s *slot) {
	for sub := range e.subs {
		if !sub.wants(s.user) {
			continue
		}
		select {
		case sub.ch <- e.message(s):
		default:
			delete(e.subs, sub)
			close(sub.ch)
			e.log.Warn("event stream subscriber too slow, disconnected", "buffered", cap(sub.ch))
		}
	}
}

// message returns s as subscribers get it, encoding it on first use. e.mu
// must be held.
func (e *Events) message(s *slot) message {
	if s.msg.data == nil {
		s.msg = e.newMessage(s, s.encode())
	}
	return s.msg
}

func (e *Events) newMessage(s *slot, data []byte) message {
	return message{seq: s.seq, id: e.epoch + "-" + strconv.FormatUint(s.seq, 10), user: s.user, data: data}
}

// encode is the JSON of the slot's Event.
func (s *slot) encode() []byte {
	data := make([]byte, 0, 512)
	if s.decoded != nil {
		return appendEventJSON(data, s.decoded, nil)
	}
	ev := Event{
		Topic:     s.topic,
		Partition: s.partition,
		Offset:    s.offset,
		Key:       keyText(s.key),
		Timestamp: s.timestamp.UTC(),
		UserID:    s.user,
	}
	if len(s.value) == 0 {
		return appendEventJSON(data, &ev, nil)
	}
	// PublishRecord kept the value because it scanned as a valid event.
	f, _ := scanStructured(s.value)
	return appendEventJSON(data, &ev, &f)
}

// recordOwner is owner for a record's key and the userId its data names (as
// JSON text, plain ASCII), allocating only for what it has to remember.
// e.mu must be held.
func (e *Events) recordOwner(key, user []byte) string {
	if !utf8.Valid(key) {
		return e.owner(base64.StdEncoding.EncodeToString(key), strings.ToLower(string(user)))
	}
	if len(key) > 0 && len(user) > 0 {
		if known, ok := e.owners[string(key)]; ok && isLower(known, user) {
			return known
		}
	}
	if len(user) == 0 && len(key) > 0 {
		return e.owners[string(key)]
	}
	return e.owner(string(key), strings.ToLower(string(user)))
}

// isLower reports whether lower is the ASCII text text in lower case.
func isLower(lower string, text []byte) bool {
	if len(lower) != len(text) {
		return false
	}
	for i, c := range text {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if lower[i] != c {
			return false
		}
	}
	return true
}

// owner returns the user of the event with key that names user: user, or,
// when it names none, the user of an earlier event with the same key; and it
// remembers a named user for the later ones. e.mu must be held.
func (e *Events) owner(key, user string) string {
	if key == "" {
		return user
	}
	if user == "" {
		return e.owners[key]
	}
	if _, known := e.owners[key]; known {
		e.owners[key] = user
		return user
	}
	if len(e.ownerKeys) < maxOwners {
		e.ownerKeys = append(e.ownerKeys, key)
	} else {
		delete(e.owners, e.ownerKeys[e.nextOwner])
		e.ownerKeys[e.nextOwner] = key
		e.nextOwner = (e.nextOwner + 1) % maxOwners
	}
	e.owners[key] = user
	return user
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
		if s.seq <= after || !sub.wants(s.user) {
			continue
		}
		replay = append(replay, e.message(s))
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
