package httptransport

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// TestDecodePostback: a postback's parameters come from the URL and a
// form body; a JSON body is handed over whole.
func TestDecodePostback(t *testing.T) {
	tests := []struct {
		name, method, target, contentType, body string
		json                                    bool
		params                                  map[string]string
		status                                  int // 0: decoded
	}{
		{"query", "GET", "/v1/postback/p?token=t&order_id=1", "", "", false, map[string]string{"token": "t", "order_id": "1"}, 0},
		{"form", "POST", "/v1/postback/p?token=t", "application/x-www-form-urlencoded", "order_id=2", false, map[string]string{"token": "t", "order_id": "2"}, 0},
		{"json", "POST", "/v1/postback/p?token=t", "application/json", `{"orderId":"3"}`, true, map[string]string{"token": "t"}, 0},
		{"json with charset", "POST", "/v1/postback/p?token=t", "application/json; charset=utf-8", `{}`, true, map[string]string{"token": "t"}, 0},
		{"a +json type", "POST", "/v1/postback/p?token=t", "application/vnd.partner+json", `{}`, true, map[string]string{"token": "t"}, 0},
		{"no type: a form", "POST", "/v1/postback/p?token=t", "", "order_id=4", false, map[string]string{"order_id": "4"}, 0},
		{"a broken form", "POST", "/v1/postback/p?token=t", "text/plain", "a=%zz", false, nil, 400},
		{"a GET's body is ignored", "GET", "/v1/postback/p?token=t", "application/json", `{"x":1}`, false, map[string]string{"token": "t"}, 0},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, bytes.NewBufferString(tt.body))
		r.SetPathValue("partner", "p")
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		got, err := decodePostback(context.Background(), r)
		if tt.status != 0 {
			if err == nil {
				t.Errorf("%s: decoded", tt.name)
			}
			continue
		}
		req := got.(conversion.PostbackRequest)
		if err != nil || (req.JSON != nil) != tt.json || tt.json && string(req.JSON) != tt.body {
			t.Errorf("%s: %+v, %v", tt.name, req, err)
		}
		for k, v := range tt.params {
			if req.Params.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, req.Params.Get(k), v)
			}
		}
	}
}

func FuzzDecodePostback(f *testing.F) {
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2&token=x"))
	f.Add("application/json; charset=\"", []byte("a=%"))
	f.Add("", []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/postback/p?token=t", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		got, err := decodePostback(context.Background(), r)
		if err != nil {
			return
		}
		req := got.(conversion.PostbackRequest)
		if req.JSON != nil && (!isJSON(contentType) || !bytes.Equal(req.JSON, body)) {
			t.Fatalf("JSON %q for %q", req.JSON, contentType)
		}
		if req.Params.Get("token") != "t" {
			t.Fatalf("the URL's token was lost: %v", req.Params)
		}
	})
}
