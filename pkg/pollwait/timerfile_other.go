//go:build !linux

package pollwait

import "errors"

type timerFile struct{}

func openTimerFile() (*timerFile, error) { return nil, errors.New("pollwait: no timer file here") }

func (*timerFile) wait() (ok, parked bool) { return false, false }
func (*timerFile) close() error            { return nil }
