//go:build !linux

package main

// lowerPriority: the helper runs at the server's priority.
func lowerPriority() {}
