# Wiresk on AWS. `make run` starts the whole system locally; `make test` runs
# every test. Tools the targets need are installed into .cache/ (git-ignored).

SHELL := /bin/bash
GO ?= go
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck
FUZZTIME ?= 30s
BENCHTIME ?= 2s

.PHONY: run test lint unit bench fuzz build clean tools

## run: start the whole system locally (embedded adapters, no AWS account).
run:
	$(GO) run ./infra/local

## test: vet, staticcheck and every test with the race detector (fuzz seed corpora included).
test: lint unit

unit:
	$(GO) test -race -count=1 -timeout 12m ./...

lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

tools: $(STATICCHECK)

## fuzz: run every fuzz target for FUZZTIME each (default 30s).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: Go benchmarks and the local runner load figures.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

clean:
	rm -rf $(CACHE) .wiresk
