//go:build !race

package kafkax

const raceDetector = false
