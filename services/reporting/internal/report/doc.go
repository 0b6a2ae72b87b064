// Package report is the commission report's domain: the query a caller
// asks (period, time zone, grouping, currency), its validation, the rows it
// answers with, currency conversion at date-effective rates, and the
// spreadsheet-safe CSV encoding. It does not read the database.
package report
