//go:build race

package kafkax

// raceDetector: this test binary has the race detector, which slows and
// reorders goroutines (see timingAttempts).
const raceDetector = true
