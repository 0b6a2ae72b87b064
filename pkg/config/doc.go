// Package config reads a service's settings from environment variables with
// defaults and validation. A Reader collects every bad value; Err reports the
// first as one line naming the variable, so start-up stops with a message an
// operator can act on. It reads through a getenv function, never os.Getenv
// directly, so main owns the environment and tests pass a map.
package config
