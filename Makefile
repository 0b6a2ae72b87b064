# linkcredit: `make run` starts the local stack, `make test` runs every check.
SHELL := /bin/bash
MODULES := pkg services/redirect services/conversions services/reporting deploy
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Four packages at a time (their tests mostly wait on processes, PostgreSQL
# and the broker); two parallel tests a package whatever the core count:
# a test binary's stacks share one PostgreSQL of 200 connections, and each
# service process may open 20 (DB_MAX_CONNS). The instants take the same cap.
TEST_PARALLEL ?= 2
GO_TEST_FLAGS ?= -race -count=1 -timeout 10m -p 4 -parallel $(TEST_PARALLEL)

.PHONY: bench-short instants test-deps bench-report bench-webhooks bench-links bench-redirect bench-go demo chaos images run build test vet fmt-check modules-standalone unit bench fuzz clean help

help:
	@echo "make run    start PostgreSQL, the dev broker and the three services (Ctrl-C stops all)"
	@echo "make test   gofmt check, go vet and every module's tests (needs PostgreSQL binaries and kcat)"
	@echo "make demo   (with make run going in another terminal) partners, course links, a month of purchases, live clicks"
	@echo "make bench  the stack beside its yardsticks, one table, exact reconciliation;  make bench-go  Go benchmarks"
	@echo "make chaos  kills, cuts and poison under load, each ending in exact reconciliation"
	@echo "make fuzz   each fuzz target for FUZZTIME (default 10s)"
	@echo "make images the service images with Docker (REGISTRY, TAG; docs/operations.md)"

# The images k8s/ and docker-compose.yml run: $(REGISTRY)/<service>:$(TAG).
# Needs Docker; push them, or load them into kind (docs/operations.md).
REGISTRY ?= ghcr.io/linkcredit
TAG ?= dev
images:
	for s in redirect conversions reporting; do \
		docker build -f deploy/Dockerfile --build-arg SERVICE=$$s --build-arg VERSION=$(VERSION) -t $(REGISTRY)/$$s:$(TAG) . || exit 1; \
	done

build:
	@mkdir -p $(BIN)
	cd services/redirect && go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/redirect ./cmd/redirect
	cd services/conversions && go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/conversions ./cmd/conversions
	cd services/reporting && go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/reporting ./cmd/reporting
	cd deploy && go build -o $(BIN)/devbroker ./cmd/devbroker && go build -o $(BIN)/localstack ./cmd/localstack && go build -o $(BIN)/bare302 ./cmd/bare302 && go build -o $(BIN)/loadgen ./cmd/loadgen && go build -o $(BIN)/benchrun ./bench/benchrun && go build -o $(BIN)/bareinsert ./bench/bareinsert

run:
	@bash deploy/scripts/ensure-deps.sh run
	@$(MAKE) --no-print-directory build
	@BIN_DIR=$(BIN) exec $(BIN)/localstack

test: test-deps fmt-check vet modules-standalone unit instants

# PostgreSQL, kcat, Chromium and axe-core for the tests (apt and npm as root).
test-deps:
	@bash deploy/scripts/ensure-deps.sh test

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

# Every module must also build on its own, outside the workspace.
modules-standalone:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || { echo "$$m does not build with GOWORK=off"; exit 1; }; done

# Every module's packages in one go test (the workspace), so packages of
# all modules share the cores instead of each module waiting for its slowest.
unit: build
	@mkdir -p .artifacts
	@BIN_DIR=$(BIN) DASHBOARD_SCREENSHOT=$(CURDIR)/.artifacts/dashboard.png go test $(GO_TEST_FLAGS) $(addprefix ./,$(addsuffix /...,$(MODULES)))
	@# The scheduler's own tests once more without the race detector,
	@# which reorders goroutines at random (pkg/pollwait's tests say why;
	@# kafkax's compression timing tests skip themselves under it).
	@go test -count=1 -run 'TestWait' ./pkg/pollwait/
	@go test -count=1 -run 'TestCompressionLets' ./pkg/kafkax/

# The date-sensitive tests (names containing AtInstant) again, at fixed
# instants: month and year ends, the finance zones' month end, DST change
# days. Kept equal to testkit.Instants() by a test in pkg/testkit.
INSTANTS := 2026-11-30T23:59:59Z 2026-12-01T00:00:00Z 2026-12-31T23:59:59Z 2027-01-01T00:00:00Z \
	2026-11-30T23:59:59+01:00 2026-12-01T00:30:00+01:00 2028-02-29T23:59:59Z 2026-10-25T02:30:00+01:00 2027-03-28T03:30:00+02:00 \
	2026-11-01T01:30:00-06:00 2027-03-14T03:30:00-05:00
# Each package compiled once without -race (the race detector already ran
# over these tests in `unit`), then INSTANT_JOBS (instant, package) pairs
# side by side (deploy/scripts/instants.sh).
INSTANT_JOBS ?= 4
instants: build
	@MODULES="$(MODULES)" BIN_DIR=$(BIN) INSTANT_JOBS=$(INSTANT_JOBS) TEST_PARALLEL=$(TEST_PARALLEL) bash deploy/scripts/instants.sh $(INSTANTS)

# The stack on loopback beside a yardstick for each figure, in one run:
# one table (also JSON under deploy/bench/results/), then loadgen's exact
# reconciliation. About 5 minutes on 2 cores; DURATION=15s per measurement.
bench: build
	@BIN_DIR=$(BIN) $(BIN)/benchrun

# Gentle, living traffic for the stack `make run` started (DATA_DIR, .run).
demo:
	@cd deploy && go build -o $(BIN)/loadgen ./cmd/loadgen
	@$(BIN)/loadgen demo

# Kills, network cuts and poison under load, each ending in loadgen's exact
# reconciliation (deploy/chaos); under 15 minutes. make test runs TestChaosShort.
chaos: build
	@cd deploy && CHAOS=full BIN_DIR=$(BIN) go test -count=1 -timeout 20m -run 'TestChaos$$' -v ./chaos/

# The short version of make bench: every phase at the smallest sizes, its
# table, JSON and exact reconciliation checked (about two minutes; make test
# runs it too).
bench-short: build
	@cd deploy && BIN_DIR=$(BIN) go test -count=1 -timeout 10m -run 'TestBenchShort$$' -v ./bench/benchrun/

bench-go:
	@for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done

# A month of 10M clicks and 1M conversions, then month reports.
bench-report:
	@cd services/reporting && REPORT_CLICKS=10000000 REPORT_CONVERSIONS=1000000 \
	  go test -timeout 60m -run '^$$' -bench MonthReport -benchtime 5x ./internal/postgres/

# Signed webhooks into conversions at 3,000/s, durable Postgres.
bench-webhooks: build
	@BIN_DIR=$(BIN) bash deploy/bench/webhooks.sh

# A million links: import speed, start-up time and memory of the redirect.
bench-links: build
	@BIN_DIR=$(BIN) bash deploy/bench/links.sh

# Loopback load test of the redirect against a bare net/http 302 server.
bench-redirect: build
	@BIN_DIR=$(BIN) bash deploy/bench/redirect.sh

FUZZTIME ?= 10s
fuzz:
	@for m in $(MODULES); do (cd $$m && for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done) || exit 1; done

clean:
	rm -rf $(BIN)
