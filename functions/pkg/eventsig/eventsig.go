// Package eventsig signs the events the stack produces and verifies them where
// they are consumed, so that process-payment and apply-result act only on
// events that create-payment and process-payment wrote, whoever can reach the
// gateway or the brokers.
//
// The signature is an HMAC-SHA256, keyed by the secret payments-event-key, over
// the event's id, type, source, subject and data. It travels in the CloudEvents
// extension attribute "signature" as "v1:<key id>:<base64url MAC>", which both
// content modes carry: a member of the JSON document in structured mode, a
// ce-signature (HTTP) or ce_signature (Kafka) header in binary mode.
//
// What is signed is a canonical encoding: each field is length-prefixed, so no
// two different events encode alike, and JSON data is signed in a canonical form
// (decoded and re-encoded: compact, keys sorted, one escaping), because the
// outbox stores events as jsonb and platforms may re-serialise JSON on the way;
// a change in whitespace, key order or escapes changes nothing a consumer reads,
// any other change breaks the signature.
//
// Producers write JSON data in that canonical form to begin with (the events
// package does), and Sign signs the bytes as they are, so that an event that
// arrives as it was sent is verified over its bytes, with no decoding: the
// canonical form is computed only for an event whose JSON was re-serialised
// on the way (the outbox's jsonb column does that to the events the relay
// sends).
//
// The secret may hold several keys, one per line (or comma-separated): the
// first signs, every one verifies. That is how a key is rotated (docs/deploy.md).
// A key's id is derived from the key, so nobody has to name keys.
package eventsig

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"handler/function/functions/pkg/payment"
)

// Extension is the CloudEvents extension attribute holding the signature.
const Extension = "signature"

// SecretName is the secret holding the keys.
const SecretName = "payments-event-key"

// MinKeyLen is the shortest key accepted, in bytes: 32 bytes of key material
// for HMAC-SHA256 (openssl rand -hex 32 gives 64).
const MinKeyLen = 32

// version prefixes every signature; a new scheme would take a new version.
const version = "v1"

// domain starts every signed message, so a MAC made here means nothing elsewhere.
const domain = "payment-pet event signature v1"

type key struct {
	id     string
	secret []byte
}

// Keys signs with the first key and verifies with any.
type Keys struct {
	signing key
	byID    map[string][]byte
}

// New returns the keys, the first being the signing key. It refuses an empty
// list and keys shorter than MinKeyLen; a key listed twice counts once.
func New(secrets []string) (*Keys, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("secret %s is required: the key(s) that sign and verify events", SecretName)
	}
	k := &Keys{byID: map[string][]byte{}}
	for i, s := range secrets {
		if len(s) < MinKeyLen {
			return nil, fmt.Errorf("secret %s: key %d is %d bytes, want at least %d", SecretName, i+1, len(s), MinKeyLen)
		}
		kk := key{id: keyID(s), secret: []byte(s)}
		if i == 0 {
			k.signing = kk
		}
		k.byID[kk.id] = kk.secret
	}
	return k, nil
}

// MustNew is New for tests and fixed keys; it panics on an error.
func MustNew(secrets ...string) *Keys {
	k, err := New(secrets)
	if err != nil {
		panic(err)
	}
	return k
}

// keyID names a key by a hash of it: eight hex digits, enough to pick the key
// among the few a secret holds, and revealing nothing usable of a random key.
func keyID(secret string) string {
	sum := sha256.Sum256([]byte("payment-pet event key id\x00" + secret))
	return hex.EncodeToString(sum[:4])
}

// SigningKeyID is the id of the key that signs.
func (k *Keys) SigningKeyID() string { return k.signing.id }

// Sign sets e's signature extension. JSON data must already be in canonical
// form (Canonical), as the events package writes it: a consumer can then check
// the bytes as they arrive, and data re-serialised on the way still verifies
// once canonicalised. Sign does not re-encode it: that was a tenth of a
// create's CPU (docs/benchmarks.md).
func (k *Keys) Sign(e *cloudevents.Event) {
	sum := mac(k.signing.secret, *e, e.Data())
	e.SetExtension(Extension, version+":"+k.signing.id+":"+base64.RawURLEncoding.EncodeToString(sum))
}

// Verify checks e's signature. Every failure is an EUNAUTHORIZED *payment.Error
// (401) whose message says what is wrong, never which key would have matched.
func (k *Keys) Verify(e cloudevents.Event) error {
	raw, ok := e.Extensions()[Extension]
	if !ok {
		return unauthorized(e, "it carries no "+Extension+" extension")
	}
	value, ok := raw.(string)
	if !ok {
		return unauthorized(e, "its "+Extension+" extension is not a string")
	}
	ver, rest, ok1 := strings.Cut(value, ":")
	id, encoded, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || ver != version {
		return unauthorized(e, fmt.Sprintf("its %s is not %s:<key id>:<mac>", Extension, version))
	}
	got, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || len(got) != sha256.Size {
		return unauthorized(e, "its "+Extension+" does not hold a "+fmt.Sprint(sha256.Size)+"-byte MAC")
	}
	secret, ok := k.byID[id]
	if !ok {
		return unauthorized(e, fmt.Sprintf("its %s names key %q, which is not one of this stack's", Extension, id))
	}
	// As Sign sent it; else re-serialised on the way, and then in canonical
	// form. Equal MACs over the bytes as they are mean they are the signed
	// canonical form.
	if hmac.Equal(got, mac(secret, e, e.Data())) {
		return nil
	}
	if data := Canonical(e.Data()); !bytes.Equal(data, e.Data()) && hmac.Equal(got, mac(secret, e, data)) {
		return nil
	}
	return unauthorized(e, "its "+Extension+" does not match its content")
}

func unauthorized(e cloudevents.Event, why string) error {
	return payment.Errorf(payment.EUNAUTHORIZED, "event %q is not signed by this stack: %s", e.ID(), why)
}

// mac is the HMAC-SHA256 of e's signed fields under secret, with data as
// e's data (docs/contracts.md, "Events").
func mac(secret []byte, e cloudevents.Event, data []byte) []byte {
	h := hmac.New(sha256.New, secret)
	writeField(h, []byte(domain))
	for _, field := range []string{e.ID(), e.Type(), e.Source(), e.Subject()} {
		writeField(h, []byte(field))
	}
	writeField(h, data)
	return h.Sum(nil)
}

// writeField writes a field as its length (8 bytes, big-endian) and its bytes,
// so that the boundaries between fields are unambiguous.
func writeField(h hash.Hash, b []byte) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	h.Write(b)
}

// Canonical is JSON data decoded and re-encoded by encoding/json (compact,
// object keys sorted, numbers as written), or the bytes unchanged when they are
// not JSON. Invalid JSON can never equal a canonical encoding, so the two cases
// cannot be confused. It is the form in which data is signed.
func Canonical(data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return data // more after the value: not one JSON document
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}
