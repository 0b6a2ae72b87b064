package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	if err := probe(ok.URL, time.Second); err != nil {
		t.Errorf("200: %v", err)
	}
	if err := probe(down.URL, time.Second); err == nil {
		t.Error("503 passed")
	}
	if err := probe("http://127.0.0.1:1/", time.Second); err == nil {
		t.Error("nothing listening passed")
	}
}
