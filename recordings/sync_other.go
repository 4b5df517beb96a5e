//go:build !linux

package recordings

import "errors"

// Without syncfs each recorder fsyncs its own file.
func syncfs(int) error { return errors.ErrUnsupported }

const haveSyncfs = false
