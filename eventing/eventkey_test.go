package eventing

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
)

// Every function that signs an event (the sources of the events) or verifies
// one (the topic-triggered functions) must be given the event key, in stack.yml
// and therefore in the Knative Services (TestKnativeServicesMatchStack), and the
// deploy guide must say how to create it on both platforms.
func TestEventKeyWhereEventsAreSignedOrVerified(t *testing.T) {
	s := MustLoadStack(t)
	need := map[string]string{}
	for name := range eventTriggered(s) {
		need[name] = "verifies the events of its topic"
	}
	for _, src := range []string{events.SourceCreatePayment, events.SourceProcessPayment} {
		name := strings.TrimPrefix(src, "/functions/")
		if _, ok := need[name]; !ok {
			need[name] = "signs the events it produces"
		}
	}
	for name, why := range need {
		fn, ok := s.Functions[name]
		if !ok {
			t.Errorf("stack.yml has no function %s", name)
			continue
		}
		if !slices.Contains(fn.Secrets, eventsig.SecretName) {
			t.Errorf("stack.yml: %s %s but does not list the secret %s", name, why, eventsig.SecretName)
		}
	}

	doc, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"faas-cli secret create " + eventsig.SecretName,
		"create secret generic " + eventsig.SecretName,
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/deploy.md does not show %q", want)
		}
	}
}
