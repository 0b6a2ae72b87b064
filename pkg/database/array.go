package database

import (
	"database/sql/driver"
	"encoding/binary"

	"github.com/lib/pq"
)

// TextArray, ByteaArray and Int8Array pass a slice as a PostgreSQL array
// parameter (text[], bytea[], bigint[]) in the server's binary format.
// lib/pq's pq.Array sends the array as text, which the server parses
// character by character (array_in, and hex_decode for each bytea): that
// was a tenth of PostgreSQL's CPU storing conversions' batches (perf
// record of its backends, issue 15). In binary each element is its length
// and its bytes, taken as they are.
//
// lib/pq asks a parameter for BinaryValue when the connection has
// binary_parameters on (Open's default), and sends those bytes in binary
// format: the server reads them with the parameter type's binary input
// (array_recv), which checks the element type named in the array's
// header against the parameter's. The parameter must therefore be of that
// array type: a function's argument or an explicit cast ($1::text[]).
// On a connection without binary_parameters lib/pq takes Value, pq.Array's
// text, instead. Text elements are checked as text is (valid UTF-8, no
// NUL byte): a bad one fails the statement with a data error
// (IsDataError), as pq.Array's text does.
//
// A nil slice is NULL, an empty one an empty array, and a nil element of
// a ByteaArray an empty bytea, as with pq.Array and pq.ByteaArray.
type (
	TextArray  []string
	ByteaArray [][]byte
	Int8Array  []int64
)

// Element type OIDs (pg_type.oid), fixed in every PostgreSQL.
const (
	oidBytea = 17
	oidInt8  = 20
	oidText  = 25
)

// Value implements driver.Valuer: pq.Array's text.
func (a TextArray) Value() (driver.Value, error) { return pq.StringArray(a).Value() }

// BinaryValue is the array in binary, for lib/pq's binary_parameters.
func (a TextArray) BinaryValue() ([]byte, error) { return binaryStrings(oidText, a), nil }

// Value implements driver.Valuer: pq.ByteaArray's text.
func (a ByteaArray) Value() (driver.Value, error) { return pq.ByteaArray(a).Value() }

// BinaryValue is the array in binary, for lib/pq's binary_parameters.
func (a ByteaArray) BinaryValue() ([]byte, error) { return binaryStrings(oidBytea, a), nil }

// binaryStrings is a of element type elem (text or bytea, whose binary
// form is their bytes) in binary; nil for a nil a (NULL).
func binaryStrings[S ~string | ~[]byte](elem uint32, a []S) []byte {
	if a == nil {
		return nil
	}
	size := 0
	for _, s := range a {
		size += len(s)
	}
	b := appendArrayHeader(make([]byte, 0, 20+4*len(a)+size), elem, len(a))
	for _, s := range a {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Value implements driver.Valuer: pq.Int64Array's text.
func (a Int8Array) Value() (driver.Value, error) { return pq.Int64Array(a).Value() }

// BinaryValue is the array in binary, for lib/pq's binary_parameters.
func (a Int8Array) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b := appendArrayHeader(make([]byte, 0, 20+12*len(a)), oidInt8, len(a))
	for _, n := range a {
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b, nil
}

// appendArrayHeader appends the header of a one-dimensional array of n
// elements of type elem, none of them NULL (array_send's layout: the
// number of dimensions, a has-nulls flag, the element type, then each
// dimension's length and lower bound). An empty array has no dimension.
func appendArrayHeader(b []byte, elem uint32, n int) []byte {
	dims := uint32(min(n, 1))
	b = binary.BigEndian.AppendUint32(b, dims)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, elem)
	if dims == 0 {
		return b
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1)
}
