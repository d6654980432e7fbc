package eventsig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/payment"
)

var (
	oldKey   = strings.Repeat("o", 32)
	newKey   = strings.Repeat("n", 40)
	otherKey = strings.Repeat("x", 64)
)

// signed is a "processed" event signed with keys; its details need escaping in JSON.
func signed(keys *eventsig.Keys) cloudevents.Event {
	e := events.Processed(payment.Result{PaymentID: uuid.New(), Success: true,
		Details: `accepted <ref & "quote"> ✓`, Processed: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)})
	keys.Sign(&e)
	return e
}

// MustUnauthorized fails unless err is a 401 whose message contains want.
func MustUnauthorized(tb testing.TB, err error, want string) {
	tb.Helper()
	if payment.ErrorCode(err) != payment.EUNAUTHORIZED || !strings.Contains(err.Error(), want) {
		tb.Fatalf("error %v, want unauthorized mentioning %q", err, want)
	}
}

func TestSignThenVerify(t *testing.T) {
	keys := eventsig.MustNew(newKey)
	e := signed(keys)
	sig, _ := e.Extensions()[eventsig.Extension].(string)
	if !strings.HasPrefix(sig, "v1:"+keys.SigningKeyID()+":") || len(sig) != len("v1:")+8+1+43 {
		t.Fatalf("signature %q", sig)
	}
	if err := keys.Verify(e); err != nil {
		t.Fatal(err)
	}
	// The same event signed twice gets the same signature: nothing random goes in.
	again := e.Clone()
	keys.Sign(&again)
	if again.Extensions()[eventsig.Extension] != sig {
		t.Fatalf("signing twice gave %v and %v", sig, again.Extensions()[eventsig.Extension])
	}
}

func TestEveryTamperedFieldIsRefused(t *testing.T) {
	keys := eventsig.MustNew(newKey)
	tests := map[string]func(e *cloudevents.Event){
		"id":      func(e *cloudevents.Event) { e.SetID(uuid.NewString()) },
		"type":    func(e *cloudevents.Event) { e.SetType(payment.EventCreated) },
		"source":  func(e *cloudevents.Event) { e.SetSource("/functions/someone-else") },
		"subject": func(e *cloudevents.Event) { e.SetSubject(uuid.NewString()) },
		"subject removed": func(e *cloudevents.Event) {
			e.SetSubject("")
		},
		"data value": func(e *cloudevents.Event) {
			e.DataEncoded = bytes.Replace(e.Data(), []byte(`"success":true`), []byte(`"success":false`), 1)
		},
		"data field added": func(e *cloudevents.Event) {
			e.DataEncoded = bytes.Replace(e.Data(), []byte(`{`), []byte(`{"SUCCESS":false,`), 1)
		},
		"data removed": func(e *cloudevents.Event) { e.DataEncoded = nil },
		// Moving bytes between fields keeps their concatenation; the length
		// prefixes tell them apart.
		"bytes moved between fields": func(e *cloudevents.Event) {
			e.SetID(e.ID() + e.Type()[:3])
			e.SetType(e.Type()[3:])
		},
	}
	for name, tamper := range tests {
		t.Run(name, func(t *testing.T) {
			e := signed(keys)
			tamper(&e)
			MustUnauthorized(t, keys.Verify(e), "does not match its content")
		})
	}
}

func TestMalformedOrMissingSignature(t *testing.T) {
	keys := eventsig.MustNew(newKey)
	good := signed(keys).Extensions()[eventsig.Extension].(string)
	_, mac, _ := strings.Cut(good[3:], ":")
	tests := map[string]struct {
		value any // nil: no extension
		want  string
	}{
		"missing":          {nil, "carries no signature extension"},
		"not a string":     {42, "is not a string"},
		"empty":            {"", "is not v1:<key id>:<mac>"},
		"other version":    {"v2" + good[2:], "is not v1:<key id>:<mac>"},
		"no key id":        {"v1:" + mac, "is not v1:<key id>:<mac>"},
		"not base64":       {"v1:" + keys.SigningKeyID() + ":!!!", "does not hold a 32-byte MAC"},
		"short MAC":        {"v1:" + keys.SigningKeyID() + ":" + mac[:20], "does not hold a 32-byte MAC"},
		"unknown key":      {"v1:00000000:" + mac, `names key "00000000"`},
		"another's MAC":    {"v1:" + keys.SigningKeyID() + ":" + strings.Repeat("A", 43), "does not match its content"},
		"padding smuggled": {"v1:" + keys.SigningKeyID() + ":" + mac + "=", "does not hold a 32-byte MAC"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := events.Processed(payment.Result{PaymentID: uuid.New(), Processed: time.Now()})
			if tt.value != nil {
				e.SetExtension(eventsig.Extension, tt.value)
			}
			MustUnauthorized(t, keys.Verify(e), tt.want)
		})
	}
}

func TestUnknownKeyIsRefused(t *testing.T) {
	e := signed(eventsig.MustNew(otherKey))
	MustUnauthorized(t, eventsig.MustNew(newKey, oldKey).Verify(e), "which is not one of this stack's")
}

func TestRotation(t *testing.T) {
	before := eventsig.MustNew(oldKey)
	during := eventsig.MustNew(newKey, oldKey) // the new key signs, the old one still verifies
	after := eventsig.MustNew(newKey)
	fromBefore, fromDuring := signed(before), signed(during)
	if during.SigningKeyID() != after.SigningKeyID() || during.SigningKeyID() == before.SigningKeyID() {
		t.Fatalf("key ids: before %s, during %s, after %s", before.SigningKeyID(), during.SigningKeyID(), after.SigningKeyID())
	}
	for name, check := range map[string]error{
		"an old event during the rotation": during.Verify(fromBefore),
		"a new event during the rotation":  during.Verify(fromDuring),
		"a new event after it":             after.Verify(fromDuring),
	} {
		if check != nil {
			t.Errorf("%s: %v", name, check)
		}
	}
	// Adding the new key everywhere first means a not-yet-updated instance
	// still accepts what an updated one signs.
	if err := eventsig.MustNew(oldKey, newKey).Verify(fromDuring); err != nil {
		t.Errorf("an instance with the new key second: %v", err)
	}
	MustUnauthorized(t, after.Verify(fromBefore), "which is not one of this stack's")
}

func TestKeysAreRequiredAndLongEnough(t *testing.T) {
	if _, err := eventsig.New(nil); err == nil || !strings.Contains(err.Error(), eventsig.SecretName) {
		t.Errorf("no keys: %v, want an error naming the secret", err)
	}
	if _, err := eventsig.New([]string{newKey, "short"}); err == nil || !strings.Contains(err.Error(), "key 2 is 5 bytes") {
		t.Errorf("a short key: %v", err)
	}
	if k, err := eventsig.New([]string{newKey, newKey}); err != nil || k.SigningKeyID() != eventsig.MustNew(newKey).SigningKeyID() {
		t.Errorf("a key twice: %v", err)
	}
}

// Sign signs the data as it is and leaves it so: the producer writes it in
// canonical form (the events package does, TestEventDataIsCanonical), and a
// consumer that gets those bytes checks them without decoding. Canonical is
// compact with sorted keys and the same values.
func TestSignLeavesTheDataAsItIs(t *testing.T) {
	e := events.Processed(payment.Result{PaymentID: uuid.New(), Success: true, Details: `ok <&>`, Processed: time.Now().UTC()})
	before := bytes.Clone(e.Data())
	eventsig.MustNew(newKey).Sign(&e)
	if !bytes.Equal(e.Data(), before) {
		t.Errorf("signing changed the data from %s to %s", before, e.Data())
	}
	var generic map[string]any
	if err := json.Unmarshal(e.Data(), &generic); err != nil {
		t.Fatal(err)
	}
	// encoding/json writes a map compact, with its keys sorted.
	canonical, _ := json.Marshal(generic)
	if got := eventsig.Canonical([]byte("{ \"success\": true,\n \"b\": 1.50 }")); string(got) != `{"b":1.50,"success":true}` {
		t.Errorf("Canonical gave %s", got)
	}
	if got := eventsig.Canonical(e.Data()); !bytes.Equal(got, canonical) {
		t.Errorf("Canonical gave %s, want %s", got, canonical)
	}
}

func TestReserialisedJSONStillVerifies(t *testing.T) {
	keys := eventsig.MustNew(newKey)
	e := signed(keys)
	var generic map[string]any
	if err := json.Unmarshal(e.Data(), &generic); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "   ")
	if err := enc.Encode(generic); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf.Bytes(), e.Data()) {
		t.Fatal("the re-encoding did not change the bytes; the test proves nothing")
	}
	e.DataEncoded = buf.Bytes()
	if err := keys.Verify(e); err != nil {
		t.Fatal(err)
	}
}

// The extension survives every way the stack and the platforms move an event:
// onto Kafka in structured mode (our producers) or binary mode (a KafkaSink),
// off it, and on to the function over HTTP in the same mode (the local and
// OpenFaaS connectors forward the record's value; Knative's KafkaSource sends
// binary HTTP). The function reads it with events.Decode, as the handlers do.
func TestSignatureSurvivesKafkaAndHTTP(t *testing.T) {
	keys := eventsig.MustNew(newKey)
	for _, mode := range []string{"structured", "binary"} {
		t.Run(mode, func(t *testing.T) {
			e := signed(keys)
			ctx := context.Background()
			if mode == "structured" {
				ctx = binding.WithForceStructured(ctx)
			} else {
				ctx = binding.WithForceBinary(ctx)
			}
			record := &sarama.ProducerMessage{Topic: events.ResultsTopic}
			if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&e), record); err != nil {
				t.Fatal(err)
			}
			consumed := MustConsumed(t, record)
			if mode == "binary" && recordHeader(consumed, "ce_signature") == "" {
				t.Fatalf("binary record headers %v lack ce_signature", record.Headers)
			}

			req, err := http.NewRequest(http.MethodPost, "http://function", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cehttp.WriteRequest(ctx, kafka_sarama.NewMessageFromConsumerMessage(consumed), req); err != nil {
				t.Fatal(err)
			}
			if mode == "binary" && req.Header.Get("Ce-Signature") == "" {
				t.Fatalf("binary HTTP headers %v lack Ce-Signature", req.Header)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(ctx, req.Header, body, payment.EventProcessed)
			if err != nil {
				t.Fatal(err)
			}
			if err := keys.Verify(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// MustConsumed turns a record as produced into the record a consumer reads.
func MustConsumed(tb testing.TB, pm *sarama.ProducerMessage) *sarama.ConsumerMessage {
	tb.Helper()
	value, err := pm.Value.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	cm := &sarama.ConsumerMessage{Topic: pm.Topic, Value: value}
	for _, h := range pm.Headers {
		cm.Headers = append(cm.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return cm
}

func recordHeader(cm *sarama.ConsumerMessage, key string) string {
	for _, h := range cm.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func BenchmarkVerify(b *testing.B) {
	keys := eventsig.MustNew(newKey, oldKey)
	e := signed(keys)
	for b.Loop() {
		if err := keys.Verify(e); err != nil {
			b.Fatal(err)
		}
	}
}
