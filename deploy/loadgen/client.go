package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Stack is a running linkcredit stack on loopback.
type Stack struct {
	Redirect, Conversions, Reporting string // base URLs, http://127.0.0.1:port
	Token                            string // admin token
	HTTP                             *http.Client
}

// ErrNotLoopback is returned for an address loadgen will not send to.
var ErrNotLoopback = errors.New("loadgen sends traffic only to 127.0.0.1 (or another loopback address)")

// CheckLoopback accepts host:port or a URL whose host is a loopback IP or
// localhost.
func CheckLoopback(addr string) error {
	host := addr
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
}

// NewStack checks the addresses (host:port or URLs) and returns a stack
// with a client that never follows redirects.
func NewStack(redirect, conversions, reporting, token string) (*Stack, error) {
	s := &Stack{Token: token}
	for _, a := range []struct {
		dst  *string
		addr string
	}{{&s.Redirect, redirect}, {&s.Conversions, conversions}, {&s.Reporting, reporting}} {
		if err := CheckLoopback(a.addr); err != nil {
			return nil, err
		}
		u := a.addr
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		*a.dst = strings.TrimSuffix(u, "/")
	}
	s.HTTP = &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// APIError is a non-2xx answer.
type APIError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
}

func (s *Stack) do(ctx context.Context, method, url, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, URL: url, Status: resp.StatusCode, Body: string(data[:min(len(data), 300)])}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return nil
}

// PutPartner registers p (its secret, token and adapter) with conversions.
func (s *Stack) PutPartner(ctx context.Context, p Partner) error {
	body := map[string]any{"name": p.Name, "currency": p.Currency}
	if p.Secret != "" {
		body["webhook_secrets"] = []string{p.Secret}
	}
	if p.Token != "" {
		body["postback_token"] = p.Token
	}
	if p.Adapter != "" {
		body["adapter"] = p.Adapter
	}
	b, _ := json.Marshal(body) // plain values always marshal
	return s.do(ctx, http.MethodPut, s.Conversions+"/v1/partners/"+url.PathEscape(p.ID), "application/json", b, nil)
}

// ImportLinks upserts links through the redirect's bulk import, in feeds of
// 5,000.
func (s *Stack) ImportLinks(ctx context.Context, links []Link) error {
	for start := 0; start < len(links); start += 5000 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, l := range links[start:min(len(links), start+5000)] {
			if err := enc.Encode(map[string]any{"code": l.Code, "partner": l.Partner, "course_id": l.CourseID,
				"title": l.Title, "destination": l.Destination(), "active": true}); err != nil {
				return err
			}
		}
		var out struct {
			Errors []json.RawMessage `json:"errors"`
		}
		if err := s.do(ctx, http.MethodPost, s.Redirect+"/v1/links:import", "application/x-ndjson", buf.Bytes(), &out); err != nil {
			return fmt.Errorf("import links: %w", err)
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("import links: %d rows refused, first: %s", len(out.Errors), out.Errors[0])
		}
	}
	return nil
}

// Deliver sends e once, as a signed webhook or a postback, and returns the
// status (0 with an error when no answer came).
func (s *Stack) Deliver(ctx context.Context, p Partner, e Event) (int, error) {
	return s.deliverTo(ctx, s.Conversions+"/v1/webhooks/"+url.PathEscape(p.ID), p, e)
}

func (s *Stack) deliverTo(ctx context.Context, webhookURL string, p Partner, e Event) (int, error) {
	var req *http.Request
	var err error
	if e.Postback {
		u := s.Conversions + "/v1/postback/" + url.PathEscape(p.ID) + "?" + e.PostbackQuery(p).Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	} else {
		body := e.WebhookBody()
		ts := time.Now().Unix()
		sig, serr := Sign(p.Secret, e.ID, ts, body)
		if serr != nil {
			return 0, serr
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("webhook-id", e.ID)
			req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
			req.Header.Set("webhook-signature", sig)
		}
	}
	if err != nil {
		return 0, err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Report runs a commissions report (JSON) and returns its rows.
func (s *Stack) Report(ctx context.Context, q url.Values) ([]map[string]any, error) {
	q.Set("format", "json")
	var out struct {
		Rows []map[string]any `json:"rows"`
	}
	err := s.do(ctx, http.MethodGet, s.Reporting+"/v1/reports/commissions?"+q.Encode(), "", nil, &out)
	return out.Rows, err
}
