package redirect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/services/redirect/internal/feed"
	"github.com/linkcredit/linkcredit/services/redirect/internal/link"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
)

func tableLink(l link.Link) linktable.Link {
	return linktable.Link{Code: l.Code, Partner: l.Partner, CourseID: l.CourseID, Destination: l.Destination, Active: l.Active,
		Placements: strings.Join(l.Placements, linktable.PlacementSep)}
}

func (s *service) PutLink(ctx context.Context, l link.Link) (link.Link, bool, error) {
	l, err := l.Normalized() // an IRI destination is stored as a URI
	if err != nil {
		return link.Link{}, false, err
	}
	stored, created, err := s.deps.Store.Put(ctx, l)
	if err != nil {
		return link.Link{}, false, err
	}
	// This replica serves the change at once; the others within a second
	// through the change feed.
	if err := s.deps.Table.Put(tableLink(stored)); err != nil {
		return link.Link{}, false, err
	}
	return stored, created, nil
}

func (s *service) GetLink(ctx context.Context, code string) (link.Link, error) {
	if !link.ValidCode(code) {
		return link.Link{}, ErrLinkNotFound
	}
	l, err := s.deps.Store.Get(ctx, code)
	if errors.Is(err, errs.NotFound) {
		return link.Link{}, errs.New(errs.NotFound, "link_not_found", "no link has the code "+code)
	}
	return l, err
}

// ListQuery selects a page of links.
type ListQuery struct {
	Partner string
	Cursor  string // the last code of the previous page
	Limit   int    // 1..1000, default 100
}

// ListPage is a page of links and the cursor of the next one ("" at the end).
type ListPage struct {
	Links      []link.Link `json:"links"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (s *service) ListLinks(ctx context.Context, q ListQuery) (ListPage, error) {
	var f errs.Fields
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 1000 {
		f.Add("limit", "must be between 1 and 1000")
	}
	if q.Partner != "" && !link.ValidPartner(q.Partner) {
		f.Add("partner", "is not a partner id")
	}
	if q.Cursor != "" && !link.ValidCode(q.Cursor) {
		f.Add("cursor", "is not a cursor this API returned")
	}
	if err := f.Err("invalid_query"); err != nil {
		return ListPage{}, err
	}
	links, err := s.deps.Store.List(ctx, q.Partner, q.Cursor, q.Limit+1)
	if err != nil {
		return ListPage{}, err
	}
	page := ListPage{Links: links}
	if len(links) > q.Limit {
		page.Links = links[:q.Limit]
		page.NextCursor = page.Links[q.Limit-1].Code
	}
	if page.Links == nil {
		page.Links = []link.Link{}
	}
	return page, nil
}

// ImportResult reports a feed import.
type ImportResult struct {
	Rows            int           `json:"rows"`
	Created         int           `json:"created"`
	Updated         int           `json:"updated"`
	Failed          int           `json:"failed"`
	Errors          []ImportError `json:"errors"`
	ErrorsTruncated bool          `json:"errors_truncated,omitempty"`
}

// ImportError is a row that was not imported.
type ImportError struct {
	Line    int    `json:"line"`
	Code    string `json:"code,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

const (
	importBatch     = 5000
	maxImportErrors = 1000
)

func (s *service) ImportLinks(ctx context.Context, rows feed.Reader) (ImportResult, error) {
	res := ImportResult{Errors: []ImportError{}}
	batch := make([]link.Link, 0, importBatch)
	index := make(map[string]int, importBatch) // code -> position: the last row of a code wins
	fail := func(e ImportError) {
		res.Failed++
		if len(res.Errors) < maxImportErrors {
			res.Errors = append(res.Errors, e)
		} else {
			res.ErrorsTruncated = true
		}
	}
	flush := func() error {
		created, updated, err := s.deps.Store.Upsert(ctx, batch)
		if err != nil {
			return err
		}
		res.Created += created
		res.Updated += updated
		for _, l := range batch {
			if err := s.deps.Table.Put(tableLink(l)); err != nil {
				return err
			}
		}
		batch = batch[:0]
		clear(index)
		return nil
	}
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Store the rows read before the feed broke off, as the
			// batches before them are, and say what was stored: a 400
			// whose links are partly live must say which.
			if ferr := flush(); ferr != nil {
				return res, ferr
			}
			// A feed cut at the body's cap is still a 413, saying the same.
			kind, code := errs.Invalid, "unreadable_feed"
			if errs.KindOf(err) == errs.TooLarge {
				kind, code = errs.TooLarge, "body_too_large"
			}
			return res, errs.Wrap(kind, code, fmt.Sprintf(
				"the feed cannot be read after %d rows: %v; the links of the rows before it are stored (%d created, %d updated, %d rows failed), the rest of the feed is not",
				res.Rows, err, res.Created, res.Updated, res.Failed), err)
		}
		res.Rows++
		if row.Err != nil {
			fail(ImportError{Line: row.Line, Code: row.Code, Field: row.Field, Message: row.Err.Error() + row.Spans()})
			continue
		}
		l, err := row.Link.Normalized()
		if err != nil {
			code := link.CodeIfValid(row.Link.Code)
			for _, fe := range errs.FieldsOf(err) {
				fail(ImportError{Line: row.Line, Code: code, Field: fe.Field, Message: fe.Field + " " + fe.Message + row.Spans()})
				res.Failed-- // one row, however many fields
			}
			res.Failed++
			continue
		}
		if i, dup := index[l.Code]; dup {
			// The later row replaces the earlier one before either is
			// written: the store sees the code once, so the later row is
			// counted here as the update it is.
			batch[i] = l
			res.Updated++
			continue
		}
		index[l.Code] = len(batch)
		batch = append(batch, l)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return res, err
		}
	}
	return res, nil
}
