package bpf

import "unsafe"

// Sizes of the shared types; the kernel writes exactly these layouts.
const (
	unsafeSizeofRecord     = unsafe.Sizeof(extractorRecord{})
	unsafeSizeofSession    = unsafe.Sizeof(extractorSession{})
	unsafeSizeofSessionKey = unsafe.Sizeof(extractorSessionKey{})
	unsafeSizeofFlow       = unsafe.Sizeof(extractorFlow{})
	unsafeSizeofFlowEnd    = unsafe.Sizeof(extractorFlowEnd{})
)
