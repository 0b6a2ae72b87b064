//go:build !(linux && (amd64 || arm64))

package aiosync

import (
	"errors"
	"os"
)

type aio struct{}

func openAIO() (*aio, error) { return nil, errors.New("aiosync: no asynchronous fsync here") }

func (*aio) fsync(*os.File) (bool, error) { return false, nil }
func (*aio) close() error                 { return nil }
