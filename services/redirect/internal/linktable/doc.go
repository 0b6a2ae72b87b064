// Package linktable keeps every course link the redirect hot path needs in
// memory, compactly: records live in large pointer-free byte chunks and an
// open-addressing index of integers points at them. A million links take
// about 120 MB, and the garbage collector never scans them, so its cost per
// cycle does not grow with the catalog.
//
// Lookups take a read lock and return views that alias the chunks; chunks
// are written once and never changed, so a view stays valid after the link
// is updated (it then shows the old version).
package linktable
