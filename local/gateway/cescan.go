package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// ceFields are the attributes of a structured-mode CloudEvent the event feed
// shows, and the userId of its data, as the raw bytes of their JSON strings.
type ceFields struct {
	specVersion, id, typ, source, subject, time []byte
	userID                                      []byte
}

// scanStructured reads a structured-mode CloudEvent in one pass without
// allocating. It answers only for the plain JSON the stack writes: ok is false
// for anything it does not handle exactly as encoding/json would (escapes or
// non-ASCII in a field it reads, a key that matches one only when case is
// ignored, a repeated or non-string attribute, invalid JSON), and the caller
// then decodes with encoding/json. With ok true, the result is what
// structuredCloudEvent and dataUserID make of the value.
func scanStructured(value []byte) (f ceFields, ok bool) {
	s := scanner{buf: value}
	s.space()
	if !s.consume('{') {
		return f, false
	}
	var seen uint8
	ok = s.members(func(key []byte) bool {
		var dst *[]byte
		var bit uint8
		switch string(key) {
		case "specversion":
			dst, bit = &f.specVersion, 1<<0
		case "id":
			dst, bit = &f.id, 1<<1
		case "type":
			dst, bit = &f.typ, 1<<2
		case "source":
			dst, bit = &f.source, 1<<3
		case "subject":
			dst, bit = &f.subject, 1<<4
		case "time":
			dst, bit = &f.time, 1<<5
		case "data":
			if seen&(1<<6) != 0 {
				return false
			}
			seen |= 1 << 6
			return s.data(&f.userID)
		default:
			// encoding/json matches keys regardless of case.
			return !foldsTo(key, "specversion", "id", "type", "source", "subject", "time", "data") && s.skipValue(0)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		var plain bool
		*dst, plain = s.plainString()
		return plain
	})
	s.space()
	return f, ok && s.pos == len(s.buf)
}

// data reads the event's data member: its userId when it is an object.
func (s *scanner) data(userID *[]byte) bool {
	s.space()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '{' {
		// null, a string, an array: no userId, as dataUserID finds.
		return s.skipValue(0)
	}
	s.pos++
	found := false
	return s.members(func(key []byte) bool {
		switch {
		case string(key) == "userId":
			if found {
				return false
			}
			found = true
			var plain bool
			*userID, plain = s.plainString()
			return plain
		case foldsTo(key, "userId"):
			return false
		default:
			return s.skipValue(1)
		}
	})
}

// foldsTo reports whether key equals one of names when ASCII case is ignored.
// Keys are plain ASCII here (plainString refuses others), so the
// Unicode folds encoding/json also applies cannot occur.
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// maxScanDepth bounds the nesting scanStructured follows; deeper documents
// go to encoding/json.
const maxScanDepth = 64

// scanner walks JSON text, validating what it skips.
type scanner struct {
	buf []byte
	pos int
}

func (s *scanner) space() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	s.space()
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// members reads the members of an object whose '{' was consumed, calling
// member with each key (a plain string) and the scanner at the value.
func (s *scanner) members(member func(key []byte) bool) bool {
	if s.consume('}') {
		return true
	}
	for {
		s.space()
		key, plain := s.plainString()
		if !plain || !s.consume(':') || !member(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// plainString reads a string made of printable ASCII without escapes, whose
// JSON text is its value.
func (s *scanner) plainString() ([]byte, bool) {
	s.space()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		return nil, false
	}
	start := s.pos + 1
	for i := start; i < len(s.buf); i++ {
		switch c := s.buf[i]; {
		case c == '"':
			s.pos = i + 1
			return s.buf[start:i], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// skipValue validates and skips one JSON value.
func (s *scanner) skipValue(depth int) bool {
	s.space()
	if s.pos >= len(s.buf) || depth > maxScanDepth {
		return false
	}
	switch c := s.buf[s.pos]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		s.pos++
		return s.members(func([]byte) bool { return s.skipValue(depth + 1) })
	case c == '[':
		s.pos++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skipValue(depth + 1) {
				return false
			}
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(s.buf[s.pos:], []byte(lit)) {
				s.pos += len(lit)
				return true
			}
		}
		return false
	}
}

// skipString skips a string with any escapes JSON allows. Like encoding/json,
// it does not insist on valid UTF-8.
func (s *scanner) skipString() bool {
	for i := s.pos + 1; i < len(s.buf); i++ {
		switch c := s.buf[i]; {
		case c == '"':
			s.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(s.buf) {
				return false
			}
			switch s.buf[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.buf) {
					return false
				}
				for _, h := range s.buf[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// skipNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) skipNumber() bool {
	b, i := s.buf, s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.pos = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// appendEventJSON appends ev's JSON as json.Marshal writes it, with ce (when
// not nil) as its CloudEvent: the feed encodes every event it sends, and this
// costs a fraction of the reflection. ev.Timestamp must be encodable.
func appendEventJSON(b []byte, ev *Event, ce *ceFields) []byte {
	b = append(b, `{"topic":`...)
	b = appendJSONString(b, ev.Topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(ev.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, ev.Offset, 10)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, ev.Key)
	b = append(b, `,"timestamp":"`...)
	b = ev.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","cloudEvent":`...)
	switch {
	case ce != nil:
		b = appendCloudEventJSON(b, ce.id, ce.typ, ce.source, ce.subject, ce.time)
	case ev.CloudEvent != nil:
		c := ev.CloudEvent
		b = appendCloudEventJSON(b, c.ID, c.Type, c.Source, c.Subject, c.Time)
	default:
		b = append(b, "null"...)
	}
	if ev.UserID != "" {
		b = append(b, `,"userId":`...)
		b = appendJSONString(b, ev.UserID)
	}
	return append(b, '}')
}

func appendCloudEventJSON[T string | []byte](b []byte, id, typ, source, subject, at T) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, source)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, subject)
	b = append(b, `,"time":`...)
	b = appendJSONString(b, at)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way json.Marshal does:
// printable ASCII other than the quote, the backslash and the characters it
// escapes for HTML goes as it is; anything else is left to encoding/json.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(string(s)) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
