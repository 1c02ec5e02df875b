# tacap — `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 2m
BENCHCOUNT ?= 10

.PHONY: help deps build generate check-generated vet test demo fuzz bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install build prerequisites (clang, llvm) with apt-get when missing
	@scripts/deps.sh build

build: ## build ./tacap (needs no clang: the BPF object is committed)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o tacap ./cmd/tacap

generate: deps ## recompile the BPF C and regenerate its Go bindings (bpf2go)
	$(GO) generate ./bpf

check-generated: generate ## fail if the committed BPF object or bindings differ from a fresh build
	@git diff --exit-code --stat -- bpf/ || { echo "generated BPF code is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- bpf/)" || { git status --porcelain -- bpf/; echo "untracked generated files in bpf/" >&2; exit 1; }

vet: ## go vet, gofmt and go mod tidy
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit" >&2; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }

demo: ## build, capture 10 s of mixed traffic between two private namespaces, print the summary (root)
	@scripts/deps.sh demo
	scripts/demo.sh

test: ## run every test (as root: the kernel and network tests run too)
	@scripts/deps.sh test
	$(MAKE) --no-print-directory vet
	scripts/test.sh

fuzz: ## fuzz the kernel parser against gopacket, then the filter compiler, for FUZZTIME each (default 2m)
	$(GO) test ./bpf -run '^$$' -fuzz FuzzExtractor -fuzztime $(FUZZTIME)
	$(GO) test ./bpf/filter -run '^$$' -fuzz FuzzCompile -fuzztime $(FUZZTIME)

bench: ## kernel program ns/packet beside an empty program (BENCHCOUNT rounds, medians)
	scripts/bench/extractor.sh $(BENCHCOUNT)

clean: ## remove build outputs
	rm -f tacap
