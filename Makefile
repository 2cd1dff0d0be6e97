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
RACE_PKGS    ?= ./apiserver/... ./crdt/... ./federation/... ./gossip/... ./identity/... ./ledger/... ./internal/...
# The simulator is one goroutine except for the workers that encode and
# decode its messages; these tests drive them (the rest of ./sim is slow
# under -race and has nothing concurrent to check).
RACE_SIM_RUN ?= TestDecodeWorkersDoNotChangeOutputs|TestWorkersTransmitEveryJob

BENCH      ?= .
BENCHTIME  ?= 1s
BENCH_PKGS ?= ./...

FUZZTIME  ?= 10s
FUZZ_PKGS ?= ./...

# Kubernetes binaries for the kube driver test (and, later, the aggregation
# test and kubectl): built from the Go module proxy into .cache, once.
K8S_VERSION  := v1.37.2
KWOK_VERSION := v0.8.0
K8S_BIN      := .cache/k8s/$(K8S_VERSION)
K8S_TOOLS    := $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kube-controller-manager $(K8S_BIN)/kube-scheduler $(K8S_BIN)/kubectl $(K8S_BIN)/kwok

.PHONY: all build up test bench fuzz lint clean k8s-tools etcd generate kubectl-if-missing

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/lattice ./cmd/lattice

# make up needs a kubectl to be useful: the machine's, or one built here.
up: build kubectl-if-missing
	$(BIN)/lattice up $(UP_ARGS)

kubectl-if-missing:
	@command -v kubectl >/dev/null 2>&1 || [ -x $(K8S_BIN)/kubectl ] || { echo "no kubectl on the PATH: building $(K8S_BIN)/kubectl (once, a few minutes)"; $(MAKE) --no-print-directory $(K8S_BIN)/kubectl; }

test: k8s-tools
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -run '$(RACE_SIM_RUN)' ./sim

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS)

fuzz:
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' sh scripts/fuzz.sh $(FUZZ_PKGS)

# Regenerate the OpenAPI definitions after changing the API types.
generate:
	GO='$(GO)' sh scripts/openapi-gen.sh

# gofmt over all Go sources except testdata (which may hold deliberately
# malformed files) and the build/state directories.
lint:
	@out=$$(find . -type d \( -name .git -o -name .cache -o -name .lattice -o -name testdata -o -name vendor \) -prune \
		-o -type f -name '*.go' -exec '$(GOFMT)' -l {} + 2>&1) || { printf '%s\n' "$$out" >&2; exit 1; }; \
	if [ -n "$$out" ]; then \
		printf 'gofmt: these files are not formatted (run gofmt -w):\n%s\n' "$$out" >&2; exit 1; \
	fi
	$(GO) vet ./...

k8s-tools: $(K8S_TOOLS) etcd

$(K8S_BIN)/kube-apiserver $(K8S_BIN)/kube-controller-manager $(K8S_BIN)/kube-scheduler $(K8S_BIN)/kubectl: tools/k8s/go.mod tools/k8s/go.sum
	@mkdir -p $(K8S_BIN)
	cd tools/k8s && $(GO) build -trimpath -ldflags '-s -w -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION)' -o $(abspath $@) ./$(notdir $@)

$(K8S_BIN)/kwok:
	@mkdir -p $(K8S_BIN)
	GOBIN=$(abspath $(K8S_BIN)) $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

# etcd comes from Debian (etcd-server). Installing needs root; without it
# the kube driver test is skipped with a message saying so.
etcd:
	@if command -v etcd >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing etcd-server from Debian"; \
		(apt-get install -y -q etcd-server >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q etcd-server >/dev/null)); \
	else echo "etcd not found and cannot install it (not root or no apt-get): the kube driver test will be skipped"; fi

clean:
	rm -rf $(BIN) .lattice
