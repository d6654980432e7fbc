// Package function is a stub OpenFaaS golang-http function that reports what it
// received, for the fnbuild tests.
package function

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"time"

	"handler/function/functions/pkg/greeting"

	handler "github.com/openfaas/templates-sdk/go-http"
)

// Handle echoes the body and reports the method, query, host and whether a
// context came with the request in response headers.
//
// ?fail=1 returns an error with a body; ?hold=<dir> creates <dir>/started and
// answers only once <dir>/release exists, so a test can keep a request in flight.
func Handle(req handler.Request) (handler.Response, error) {
	q, err := url.ParseQuery(req.QueryString)
	if err != nil {
		return handler.Response{StatusCode: http.StatusBadRequest, Body: []byte(err.Error())}, nil
	}
	if q.Get("fail") != "" {
		return handler.Response{StatusCode: http.StatusTeapot, Body: []byte("it broke")}, errors.New("asked to fail")
	}
	if dir := q.Get("hold"); dir != "" {
		if err := hold(req, dir); err != nil {
			return handler.Response{}, err
		}
	}
	header := http.Header{}
	header.Set("X-Echo-Method", req.Method)
	header.Set("X-Echo-Query", req.QueryString)
	header.Set("X-Echo-Host", req.Host)
	header.Set("X-Echo-Content-Type", req.Header.Get("Content-Type"))
	if req.Context() != nil {
		header.Set("X-Echo-Context", "yes")
	}
	return handler.Response{
		StatusCode: http.StatusCreated,
		Header:     header,
		Body:       append([]byte(greeting.Prefix()), req.Body...),
	}, nil
}

func hold(req handler.Request, dir string) error {
	if err := os.WriteFile(dir+"/started", nil, 0o644); err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(dir + "/release"); err == nil {
			return nil
		}
		select {
		case <-req.Context().Done():
			return req.Context().Err()
		case <-tick.C:
		}
	}
}
