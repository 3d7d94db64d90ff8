//go:build !linux

package chat

// threadCPU is not measured outside Linux.
func threadCPU() int64 { return 0 }
