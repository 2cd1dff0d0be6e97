# Lattice — GNU make targets. Only Go (see go.mod) is required; everything else
# is built here. GOFLAGS from the environment is honoured, never overridden.

GO       ?= go
GOFMT    ?= $(shell $(GO) env GOROOT)/bin/gofmt
BIN      := .cache/bin

# Version stamped into the binary (lattice version).
# Override on the command line: make build VERSION=v0.1.0
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# make up UP_ARGS='--members 5'
UP_ARGS  ?=

TEST_TIMEOUT ?= 15m
# Packages with concurrency that are also run under the race detector.
RACE_PKGS    ?= ./crdt/... ./gossip/... ./identity/... ./ledger/... ./internal/...

BENCH      ?= .
BENCHTIME  ?= 1s
BENCH_PKGS ?= ./...

FUZZTIME  ?= 10s
FUZZ_PKGS ?= ./...

.PHONY: all build up test bench fuzz lint clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/lattice ./cmd/lattice

up: build
	$(BIN)/lattice up $(UP_ARGS)

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS)

fuzz:
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' sh scripts/fuzz.sh $(FUZZ_PKGS)

# gofmt over all Go sources except testdata (which may hold deliberately
# malformed files) and the build/state directories.
lint:
	@out=$$(find . -type d \( -name .git -o -name .cache -o -name .lattice -o -name testdata -o -name vendor \) -prune \
		-o -type f -name '*.go' -exec '$(GOFMT)' -l {} + 2>&1) || { printf '%s\n' "$$out" >&2; exit 1; }; \
	if [ -n "$$out" ]; then \
		printf 'gofmt: these files are not formatted (run gofmt -w):\n%s\n' "$$out" >&2; exit 1; \
	fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN) .lattice
