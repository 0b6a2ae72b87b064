// Package link is what a course link is: its code, partner, course and
// destination template, and the rules that make one valid. It also fills a
// destination's macros ({click_id}, {code}, {course_id}, {partner}) with
// URL escaping for the part of the URL each stands in.
//
// Validation is the guard of "never redirect anywhere a link did not name":
// macros may only stand after the host, so no filled value can change where
// a visitor goes. A destination written with non-ASCII characters (an IRI)
// is stored as the ASCII URI a Location header can carry (Normalized), so
// the click path copies it as it is.
package link
