package events

import (
	"errors"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// FuzzDecode: any bytes either decode into a valid event or fail with an
// Invalid error (which consumers dead-letter); never a panic, never an
// internal error that would stall a partition forever.
func FuzzDecode(f *testing.F) {
	c, _ := Marshal(sampleClick())
	v, _ := Marshal(sampleConversion())
	f.Add(c)
	f.Add(v)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"click.recorded","schema_version":1,"id":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeClick(b); err != nil && !errors.Is(err, errs.Invalid) {
			t.Fatalf("DecodeClick: %v is not Invalid", err)
		}
		if _, err := DecodeConversion(b); err != nil && !errors.Is(err, errs.Invalid) {
			t.Fatalf("DecodeConversion: %v is not Invalid", err)
		}
	})
}
