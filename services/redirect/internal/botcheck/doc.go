// Package botcheck decides whether a click came from a bot, with a reason
// code from a maintained list. Bot clicks are still recorded (and
// redirected: a crawler must see where a link goes); reporting leaves them
// out of human click counts and EPC.
package botcheck
