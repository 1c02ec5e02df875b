// Package bpf holds tacap's kernel program, its generated bindings and the
// code that loads it. It knows nothing of interfaces, files or the wall clock.
package bpf

//go:generate go tool bpf2go -cc clang -strip llvm-strip -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type counter -type direction -type record -type session -type session_key -type counters -type replay_meta -type cpu_state -type flow -type flow_end -type flow_end_reason -type flow_stats -type flow_dir -type flow_scratch -type slot_state -type filter_ctx  extractor extractor.c -- -I./headers
