//go:build !linux

package health

import "errors"

func diskFree(string) (uint64, error) { return 0, errors.ErrUnsupported }
