package stack_test

import (
	"path/filepath"
	"slices"
	"testing"

	"handler/function/local/stack"
)

func TestLoadRepositoryStack(t *testing.T) {
	s, err := stack.Load(filepath.Join("..", "..", "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apply-result", "create-payment", "get-payment", "process-payment", "relay-outbox"}
	var got []string
	for _, fn := range s.Sorted() {
		got = append(got, fn.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("functions = %v, want %v", got, want)
	}
	if topics := s.Functions["process-payment"].Topics(); !slices.Equal(topics, []string{"payments"}) {
		t.Errorf("process-payment topics = %v", topics)
	}
	if topics := s.Functions["apply-result"].Topics(); !slices.Equal(topics, []string{"paymentsResults"}) {
		t.Errorf("apply-result topics = %v", topics)
	}
	relay := s.Functions["relay-outbox"]
	if relay.Schedule() == "" || len(relay.Topics()) != 0 {
		t.Errorf("relay-outbox: schedule %q topics %v", relay.Schedule(), relay.Topics())
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	_, err := stack.Parse([]byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  f: {lang: go, handler: ./f, image: f, enviroment: {}}\n"))
	if err == nil {
		t.Fatal("want an error for the misspelt key")
	}
}

func TestParseRequiresFunctionsFields(t *testing.T) {
	_, err := stack.Parse([]byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  f: {lang: go}\n"))
	if err == nil {
		t.Fatal("want an error for a function without handler and image")
	}
}
