# Wiresk on AWS. `make run` starts the whole system locally; `make test` runs
# every test. Tools the targets need are installed into .cache/ (git-ignored).

SHELL := /bin/bash
GO ?= go
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck
# Emulators for the AWS adapters' contract suites (design §4), fetched once.
DDB_SIMULATOR_VERSION := 2.9.30
DDB_LOCAL_DIR := $(CACHE)/dynamodb-local
DDB_LOCAL_JAR := $(DDB_LOCAL_DIR)/DynamoDBLocal.jar
# goaws is built from internal/testkit/emulator/goaws, a module of its own whose go.mod pins
# the goaws version (v0.5.4) and whose command listens on loopback only.
GOAWS_SRC := $(CURDIR)/internal/testkit/emulator/goaws
GOAWS := $(BIN)/goaws
export WIRESK_DYNAMODB_LOCAL_JAR := $(DDB_LOCAL_JAR)
export WIRESK_GOAWS_BIN := $(GOAWS)
FUZZTIME ?= 30s
BENCHTIME ?= 2s
LOADTIME ?= 5s
LOADCONNS ?= 16,64

.PHONY: run test lint unit bench fuzz build clean tools emulators catalog

## run: start the whole system locally (embedded adapters, no AWS account).
run:
	$(GO) run ./infra/local

## test: vet, staticcheck and every test with the race detector (fuzz seed corpora included),
## the AWS adapters' contract suites included (against DynamoDB Local and goaws).
test: lint unit

unit: emulators
	$(GO) test -race -count=1 -timeout 12m ./...

lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

tools: $(STATICCHECK) emulators

## catalog: rewrite internal/catalog/apps.json (what Load decodes at start-up) from the app files
## internal/catalog/apps/*.yaml; a test fails until it is current.
catalog:
	$(GO) test ./internal/catalog/appfile -run '^TestTheSnapshotIsCurrent$$' -count=1 -update

## emulators: fetch DynamoDB Local (from the npm package amplify-dynamodb-simulator) and build goaws
## (internal/testkit/emulator/goaws); tests run both on 127.0.0.1 only.
emulators: $(DDB_LOCAL_JAR) $(GOAWS)

$(DDB_LOCAL_JAR):
	@command -v npm >/dev/null || { echo "npm is needed to fetch DynamoDB Local"; exit 1; }
	@command -v java >/dev/null || { echo "a JDK (17+) is needed to run DynamoDB Local"; exit 1; }
	@java --list-modules | grep -q '^jdk.compiler@' || { echo "a JDK (17+), not only a JRE, is needed: DynamoDB Local starts through a Java source file (internal/testkit/emulator/LoopbackDynamoDBLocal.java)"; exit 1; }
	@mkdir -p $(CACHE)/npm
	cd $(CACHE)/npm && npm pack --silent amplify-dynamodb-simulator@$(DDB_SIMULATOR_VERSION) >/dev/null
	rm -rf $(DDB_LOCAL_DIR) && mkdir -p $(DDB_LOCAL_DIR)
	tar xzf $(CACHE)/npm/amplify-dynamodb-simulator-$(DDB_SIMULATOR_VERSION).tgz -C $(DDB_LOCAL_DIR) --strip-components=2 package/emulator
	@test -f $@

# goaws v0.5.4 speaks the current SDK's JSON protocol (the module list shows
# only v0.4.4, so its go.mod pins it). goaws's own command listens on 0.0.0.0
# with no option to change it; the wrapper runs the same server on 127.0.0.1.
# Rebuilt whenever the wrapper changes, so an older, exposed build is replaced.
$(GOAWS): $(GOAWS_SRC)/main.go $(GOAWS_SRC)/go.mod $(GOAWS_SRC)/go.sum
	@mkdir -p $(BIN)
	cd $(GOAWS_SRC) && GOFLAGS= $(GO) build -o $@ .

## fuzz: run every fuzz target for FUZZTIME each (default 30s).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: Go benchmarks, then the local runner under load beside its references.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./internal/...
	$(GO) run ./infra/bench -duration $(LOADTIME) -conns $(LOADCONNS)

clean:
	rm -rf $(CACHE) .wiresk

# --- Lambda builds ---
# `sam build` runs `make build-<LogicalId>` (Metadata: BuildMethod: makefile in
# template.yaml) with ARTIFACTS_DIR set; `make build` puts every function's
# bootstrap under bin/<folder>/ for inspection.
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
LAMBDA_ENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FUNCTIONS := trigger manage worker connections oauthcallback health

.PHONY: build build-TriggerFunction build-ManageFunction build-WorkerFunction build-ConnectionsFunction \
	build-OAuthCallbackFunction build-HealthFunction lambda-artifacts-dir

## build: every Lambda function's bootstrap (linux/arm64) into bin/<folder>/bootstrap.
build:
	@set -e; for f in $(LAMBDA_FUNCTIONS); do \
	  echo "bin/$$f/bootstrap"; \
	  $(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o bin/$$f/bootstrap ./functions/$$f; \
	done

build-TriggerFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/trigger

build-ManageFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/manage

build-WorkerFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/worker

build-ConnectionsFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/connections

build-OAuthCallbackFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/oauthcallback

build-HealthFunction: lambda-artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/health

lambda-artifacts-dir:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it; use make build for bin/"; exit 1; }
