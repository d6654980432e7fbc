package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// decodedFields is what encoding/json makes of a structured event: the
// CloudEvent (nil when it is none) and the userId of its data.
func decodedFields(value []byte) (*CloudEvent, string) {
	ev := EventFromRecord("t", 0, 0, nil, value, map[string]string{"content-type": "application/cloudevents+json"}, recordTime)
	return ev.CloudEvent, ev.UserID
}

// scannedFields is the same from scanStructured, when it answers.
func scannedFields(value []byte) (ce *CloudEvent, user string, ok bool) {
	f, ok := scanStructured(value)
	if !ok {
		return nil, "", false
	}
	if !f.valid() {
		return nil, "", true
	}
	return &CloudEvent{ID: string(f.id), Type: string(f.typ), Source: string(f.source), Subject: string(f.subject), Time: string(f.time)},
		strings.ToLower(string(f.userID)), true
}

// mustAgree fails when scanStructured answers differently from encoding/json.
func mustAgree(tb testing.TB, value []byte) (ok bool) {
	tb.Helper()
	ce, user, ok := scannedFields(value)
	if !ok {
		return false
	}
	wantCE, wantUser := decodedFields(value)
	if (ce == nil) != (wantCE == nil) || ce != nil && *ce != *wantCE || user != wantUser {
		tb.Fatalf("scanStructured(%s) = %+v, %q; encoding/json: %+v, %q", value, ce, user, wantCE, wantUser)
	}
	return true
}

const scanUser = "5D1F7A58-3C1E-4E0C-8A57-0F6F2F1F3B11"

// scanCases are structured values with whether scanStructured must answer
// them itself (the stack's own events, and plain variations) or leave them to
// encoding/json.
var scanCases = []struct {
	name  string
	value string
	fast  bool
}{
	{"the stack's created event", `{"specversion":"1.0","id":"e1","source":"/functions/create-payment","type":"t","subject":"p","datacontenttype":"application/json","time":"2026-11-25T14:04:05Z","partitionkey":"p","signature":"v1:abc:def","data":{"paymentId":"p","userId":"` + scanUser + `","amount":"1.00","description":"rent <&> \"quoted\" \u00e9","processed":null,"extPaymentDetails":null}}`, true},
	{"a result: no userId", `{"specversion":"1.0","id":"e2","source":"s","type":"t","data":{"paymentId":"p","success":true,"processed":"2026-11-25T14:04:05Z"}}`, true},
	{"whitespace everywhere", " \n{ \"specversion\" : \"1.0\" ,\t\"id\":\"e\",\"type\":\"t\",\"source\":\"s\",\"data\" : { \"userId\" : \"u\" } }\r\n", true},
	{"numbers, literals, nesting", `{"specversion":"1.0","id":"e","type":"t","source":"s","n":[-0.5e+10,0,12.25E-3,true,false,null,{"a":[[]]},{}],"data":{"x":{"userId":"nested, not it"},"userId":"u","y":-1}}`, true},
	{"data is a string", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":"{\"userId\":\"u\"}"}`, true},
	{"data is null", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":null}`, true},
	{"data is an array", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":[{"userId":"u"}]}`, true},
	{"data_base64", `{"specversion":"1.0","id":"e","type":"t","source":"s","data_base64":"eyJ1c2VySWQiOiJ1In0="}`, true},
	{"missing id: no event", `{"specversion":"1.0","type":"t","source":"s","data":{"userId":"u"}}`, true},
	{"empty source: no event", `{"specversion":"1.0","id":"e","type":"t","source":"","data":{"userId":"u"}}`, true},
	{"empty object", `{}`, true},
	{"escapes in a skipped string", `{"specversion":"1.0","id":"e","type":"t","source":"s","other":"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00"}`, true},

	{"escape in an attribute", `{"specversion":"1.0","id":"e\u0031","type":"t","source":"s"}`, false},
	{"non-ASCII attribute", `{"specversion":"1.0","id":"é","type":"t","source":"s"}`, false},
	{"escaped userId", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":"\u0041"}}`, false},
	{"key differing in case", `{"specversion":"1.0","ID":"e","type":"t","source":"s"}`, false},
	{"userId differing in case", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"USERID":"u"}}`, false},
	{"escaped key", `{"specversion":"1.0","i\u0064":"e","type":"t","source":"s"}`, false},
	{"repeated attribute", `{"specversion":"1.0","id":"e","id":"f","type":"t","source":"s"}`, false},
	{"repeated data", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":"a"},"data":{"userId":"b"}}`, false},
	{"repeated userId", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":"a","userId":"b"}}`, false},
	{"number attribute", `{"specversion":"1.0","id":5,"type":"t","source":"s"}`, false},
	{"null attribute", `{"specversion":"1.0","id":null,"type":"t","source":"s"}`, false},
	{"number userId", `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":5}}`, false},
	{"an array", `[{"specversion":"1.0","id":"e","type":"t","source":"s"}]`, false},
	{"trailing garbage", `{"specversion":"1.0","id":"e","type":"t","source":"s"} x`, false},
	{"two values", `{"specversion":"1.0","id":"e","type":"t","source":"s"}{}`, false},
	{"unterminated", `{"specversion":"1.0","id":"e","type":"t","source":"s"`, false},
	{"trailing comma", `{"specversion":"1.0","id":"e","type":"t","source":"s",}`, false},
	{"missing colon", `{"specversion" "1.0"}`, false},
	{"bad number", `{"specversion":"1.0","id":"e","type":"t","source":"s","n":01}`, false},
	{"bad fraction", `{"specversion":"1.0","id":"e","type":"t","source":"s","n":1.}`, false},
	{"bad exponent", `{"specversion":"1.0","id":"e","type":"t","source":"s","n":1e}`, false},
	{"bad literal", `{"specversion":"1.0","id":"e","type":"t","source":"s","n":tru}`, false},
	{"bad escape", `{"specversion":"1.0","id":"e","type":"t","source":"s","x":"\q"}`, false},
	{"short unicode escape", `{"specversion":"1.0","id":"e","type":"t","source":"s","x":"\u12"}`, false},
	{"control character", "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"t\",\"source\":\"s\",\"x\":\"a\tb\"}", false},
	{"array without comma", `{"specversion":"1.0","id":"e","type":"t","source":"s","x":[1 2]}`, false},
	{"empty", ``, false},
}

func TestScanStructuredAgreesWithEncodingJSON(t *testing.T) {
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			if ok := mustAgree(t, []byte(tc.value)); ok != tc.fast {
				t.Errorf("scanStructured answered: %v, want %v", ok, tc.fast)
			}
		})
	}
}

func TestScanStructuredReadsTheStacksEvents(t *testing.T) {
	for _, r := range tapRecords(t, 2) {
		f, ok := scanStructured(r.value)
		if !ok || !f.valid() {
			t.Fatalf("%s: scanStructured = %v, valid %v, want the fast path", r.topic, ok, f.valid())
		}
		mustAgree(t, r.value)
		var e struct {
			Data struct {
				UserID string `json:"userId"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.value, &e); err != nil {
			t.Fatal(err)
		}
		if string(f.userID) != e.Data.UserID {
			t.Errorf("%s: userId %q, want %q", r.topic, f.userID, e.Data.UserID)
		}
	}
}

func TestScanStructuredGivesUpOnDeepNesting(t *testing.T) {
	deep := `{"specversion":"1.0","id":"e","type":"t","source":"s","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, ok := scanStructured([]byte(deep)); ok {
		t.Error("scanStructured answered for 100 levels of nesting, want encoding/json to")
	}
	if !mustAgree(t, []byte(strings.Replace(deep, strings.Repeat("[", 100)+strings.Repeat("]", 100), strings.Repeat("[", 60)+strings.Repeat("]", 60), 1))) {
		t.Error("scanStructured gave up on 60 levels of nesting")
	}
}

// FuzzScanStructured checks that whenever scanStructured answers, it answers
// as encoding/json does.
func FuzzScanStructured(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.value))
	}
	f.Fuzz(func(t *testing.T, value []byte) { mustAgree(t, value) })
}

// mustEncodeAsJSONDoes fails when appendEventJSON differs from json.Marshal.
func mustEncodeAsJSONDoes(tb testing.TB, ev Event) {
	tb.Helper()
	want, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	if got := appendEventJSON(nil, &ev, nil); string(got) != string(want) {
		tb.Fatalf("appendEventJSON =\n%s\njson.Marshal:\n%s", got, want)
	}
}

func TestAppendEventJSONWritesWhatJSONMarshalDoes(t *testing.T) {
	ce := &CloudEvent{ID: "id", Type: "t<script>&", Source: `/"quoted"\`, Subject: "tab\tnew\nline\u2028", Time: "é\xff"}
	for _, ev := range []Event{
		{Topic: "payments", Partition: 2, Offset: 1 << 40, Key: "pay-1", Timestamp: recordTime.UTC(), CloudEvent: ce, UserID: "u"},
		{Topic: "payments.dlq", Partition: -1, Offset: -1, Key: "/wAB", Timestamp: recordTime.UTC().Truncate(time.Second)},
		{Topic: "t", Key: "", Timestamp: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), CloudEvent: &CloudEvent{}},
		{Topic: "t", Key: "\x00<>&", Timestamp: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), UserID: "ü"},
	} {
		mustEncodeAsJSONDoes(t, ev)
	}
}

func FuzzAppendEventJSON(f *testing.F) {
	f.Add("payments", "pay-1", "id", "u", int32(0), int64(0), int64(0))
	f.Add("t<>&", "\xff\"\\", "\u2028\t", "é", int32(-5), int64(1<<62), int64(-1e18))
	f.Fuzz(func(t *testing.T, topic, key, id, user string, partition int32, offset, nanos int64) {
		mustEncodeAsJSONDoes(t, Event{Topic: topic, Partition: partition, Offset: offset, Key: key, UserID: user,
			Timestamp: time.Unix(0, nanos).UTC(), CloudEvent: &CloudEvent{ID: id, Type: key, Source: topic, Subject: user, Time: id}})
	})
}
