package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/events"
)

// ArchiveItem is one click or conversion event as reporting stored it,
// with the instant Kafka recorded it (At).
type ArchiveItem struct {
	At         time.Time
	Click      *Click
	Conversion *ConversionEvent
}

// Archive calls fn with every click and conversion event this schema
// holds, merged in the order Kafka recorded them (conversion events of
// one conversion in the order they were stored, which is their order on
// their partition). This is the record of truth `reporting replay`
// rebuilds from: the topics keep 30 days, reporting keeps everything it
// ingested (clicks in monthly partitions; one detached for archiving must
// be attached again first). Clicks stored before migration 0006 have no
// Kafka time and count as recorded at their own time.
func (s *Store) Archive(ctx context.Context, fn func(ArchiveItem) error) error {
	clicks, err := s.db.QueryContext(ctx, `SELECT id, occurred_at, code, partner, course_id, placement, utm_source,
			utm_medium, utm_campaign, bot, bot_reason, is_unique, coalesce(recorded_at, occurred_at) AS at
		FROM clicks ORDER BY at, id, occurred_at`)
	if err != nil {
		return database.Classify(fmt.Errorf("archive: clicks: %w", err))
	}
	defer clicks.Close()
	convs, err := s.db.QueryContext(ctx, `SELECT id, partner, order_id, click_id, course_id, status, sale_minor,
			commission_minor, currency, occurred_at, received_at, recorded_at, source, replay_of, accepted_seq
		FROM conversion_events WHERE source <> 'settlement' -- the journal's (SourceSettlement)
		ORDER BY recorded_at, ingest_seq NULLS FIRST, id`)
	if err != nil {
		return database.Classify(fmt.Errorf("archive: conversion events: %w", err))
	}
	defer convs.Close()
	nextClick := func() (*Click, error) {
		if !clicks.Next() {
			return nil, clicks.Err()
		}
		c := &Click{ClickRecorded: events.ClickRecorded{Header: events.Header{Type: events.TypeClickRecorded, SchemaVersion: events.SchemaVersion}}}
		if err := clicks.Scan(&c.ID, &c.OccurredAt, &c.Code, &c.Partner, &c.CourseID, &c.Placement, &c.UTMSource,
			&c.UTMMedium, &c.UTMCampaign, &c.Bot, &c.BotReason, &c.Unique, &c.RecordedAt); err != nil {
			return nil, err
		}
		c.OccurredAt, c.RecordedAt = c.OccurredAt.UTC(), c.RecordedAt.UTC()
		return c, nil
	}
	nextConv := func() (*ConversionEvent, error) {
		if !convs.Next() {
			return nil, convs.Err()
		}
		e := &ConversionEvent{}
		var received sql.NullTime
		if err := convs.Scan(&e.ID, &e.Partner, &e.OrderID, &e.ClickID, &e.CourseID, &e.Status, &e.Sale, &e.Commission,
			&e.Currency, &e.OccurredAt, &received, &e.RecordedAt, &e.Source, &e.ReplayOf, &e.AcceptedSeq); err != nil {
			return nil, err
		}
		e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
		if received.Valid {
			e.ReceivedAt = received.Time.UTC()
		}
		return e, nil
	}
	c, err := nextClick()
	if err != nil {
		return database.Classify(err)
	}
	v, err := nextConv()
	if err != nil {
		return database.Classify(err)
	}
	for c != nil || v != nil {
		// A click first on a tie: a conversion then finds its click, as
		// it would have live (had it come first, the click's arrival
		// attributes it, to the same result).
		if c != nil && (v == nil || !v.RecordedAt.Before(c.RecordedAt)) {
			if err := fn(ArchiveItem{At: c.RecordedAt, Click: c}); err != nil {
				return err
			}
			if c, err = nextClick(); err != nil {
				return database.Classify(err)
			}
			continue
		}
		if err := fn(ArchiveItem{At: v.RecordedAt, Conversion: v}); err != nil {
			return err
		}
		if v, err = nextConv(); err != nil {
			return database.Classify(err)
		}
	}
	return nil
}
