module github.com/tacap/tacap

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/google/gopacket v1.1.19 // indirect
	golang.org/x/net v0.48.0 // indirect
)

tool github.com/cilium/ebpf/cmd/bpf2go
