package function

import (
	"testing"

	handler "github.com/openfaas/templates-sdk/go-http"
)

func TestHandleEchoes(t *testing.T) {
	res, err := Handle(handler.Request{Method: "POST", Body: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != "echo: hi" {
		t.Fatalf("body = %q", res.Body)
	}
}
