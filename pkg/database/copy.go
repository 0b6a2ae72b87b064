package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// copyChunk is about how much row text CopyIn hands the driver at a time.
const copyChunk = 64 << 10

// copyBuffers keeps CopyIn's chunk buffers between calls. A fresh 80 KB
// buffer a COPY, and a 64 KB string copied from it a chunk, were each
// allocated in memory the process had not touched lately: page faults
// were a fifth of reporting's CPU while it caught up (perf record, make
// bench, issue 15), and these two buffers an eighth of those.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, copyChunk+copyChunk/4); return &b }}

// maxPooledCopyBuffer bounds a buffer CopyIn keeps: one grown by a huge
// row is left to the collector.
const maxPooledCopyBuffer = 1 << 20

// copyData is lib/pq's COPY statement: it takes row text as it is, and
// appends it to its own buffer before CopyData returns, keeping no
// reference to line. CopyIn relies on that to hand it each chunk without
// a copy (TestCopyInStoresWhatTheDriverWould sends several chunks).
type copyData interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// CopyIn runs query, a COPY ... FROM STDIN, on conn inside the
// transaction open on it (TransactOn), with n rows that row appends, each
// in COPY's text format without its newline (AppendCopyText,
// AppendCopyTime, AppendCopyBool, tabs between fields).
//
// It writes the text straight to the driver's statement instead of
// passing each row's fields through database/sql, which converts and
// checks every field of every row on the way: that conversion was a
// tenth of reporting's CPU ingesting clicks (make bench, issue 15).
// Errors come as from any statement: a *pq.Error for what the server
// refused (IsUniqueViolation works on them).
func CopyIn(ctx context.Context, conn *sql.Conn, query string, n int, row func(b []byte, i int) []byte) error {
	return conn.Raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("database: copy: driver connection %T cannot prepare", dc)
		}
		stmt, err := prep.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		cd, ok := stmt.(copyData)
		if !ok {
			return fmt.Errorf("database: copy: driver statement %T takes no COPY data", stmt)
		}
		bp := copyBuffers.Get().(*[]byte)
		buf := (*bp)[:0]
		defer func() {
			if cap(buf) <= maxPooledCopyBuffer {
				*bp = buf[:0]
				copyBuffers.Put(bp)
			}
		}()
		for i := 0; i < n; i++ {
			if len(buf) > 0 {
				buf = append(buf, '\n') // CopyData ends each chunk's last row
			}
			buf = row(buf, i)
			if len(buf) >= copyChunk || i == n-1 {
				// Not copied: the driver copies it (see copyData).
				if _, err := cd.CopyData(ctx, unsafe.String(unsafe.SliceData(buf), len(buf))); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		// Exec without arguments ends the COPY and reports what the
		// server made of the rows.
		_, err = stmt.Exec(nil) //nolint:staticcheck // the driver's COPY statement has no ExecContext
		return err
	})
}

// AppendCopyText appends s as a COPY text field: backslash, newline,
// carriage return and tab escaped.
func AppendCopyText(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case '\t':
			esc = 't'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// AppendCopyTime appends t as a COPY timestamptz field, to the
// nanosecond as lib/pq sends it (PostgreSQL rounds it to the
// microsecond), or NULL (\N) for the zero time. Years outside 1 to 9999
// are written as AppendFormat writes them (PostgreSQL refuses a year of
// five digits written so).
//
// It writes the digits itself, the same as t.UTC().AppendFormat with
// copyTimeLayout would: reading the layout took half of the time's
// formatting, and formatting a click's two times 4 % of reporting's CPU
// while it caught up (make bench, issue 15).
func AppendCopyTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, '\\', 'N')
	}
	t = t.UTC()
	year, month, day := t.Date()
	if year < 1 || year > 9999 {
		return t.AppendFormat(b, copyTimeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, ' '), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = appendDigits(append(b, '.'), ns, digits)
	}
	return append(b, 'Z')
}

// copyTimeLayout is AppendCopyTime's format.
const copyTimeLayout = "2006-01-02 15:04:05.999999999Z07:00"

// appendDigits appends v, which is not negative, in width decimal
// digits, zeros first.
func appendDigits(b []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

// AppendCopyBool appends v as a COPY boolean field.
func AppendCopyBool(b []byte, v bool) []byte {
	if v {
		return append(b, 't')
	}
	return append(b, 'f')
}
