# opskit: every target works from a fresh clone. See README.md.
GO          ?= go
# pipefail: `go test ... | tee` must fail when the tests fail.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Modules, library first. Each has its own go.mod so heavy dependencies
# (exporters, peers, drivers) never reach the library's users.
MODULES     := . postgres examples benchmarks
BENCH_COUNT ?= 6
BENCH       ?= .
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
SLOTH       := github.com/slok/sloth/cmd/sloth@v0.16.0

.PHONY: test fmt vet apicheck outside race benchsmoke loadtest-smoke bench loadtest run lint api

## test: formatting, vet, the API record, the docs as an outside user sees them, the race-enabled tests of every module, every benchmark once, the load test for a second
test: fmt vet apicheck outside race benchsmoke loadtest-smoke

fmt:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done

# The exported API must match api/: a change shows as a diff, accepted with `make api`.
apicheck:
	$(GO) run ./internal/cmd/apirecord -check

# Every doc.go program and example_test.go, copied into a module outside this
# one: they compile, the Examples pass, HTTP programs answer a request.
outside:
	$(GO) run ./internal/cmd/outside

## api: rewrite api/ (one file per package: its exported signatures) after a reviewed API change
api:
	$(GO) run ./internal/cmd/apirecord

# Tests skipped for a missing component (PostgreSQL, promtool, ...) say so
# at the end (internal/component); `go test` alone would print a bare "ok".
race:
	@skip=$$(mktemp); trap 'rm -f "$$skip"' EXIT; \
	for m in $(MODULES); do echo "go test -race ($$m)"; (cd $$m && OPSKIT_SKIP_REPORT="$$skip" $(GO) test -race -count=1 -timeout 20m ./...) || exit 1; done; \
	if [ -s "$$skip" ]; then echo "tests skipped for missing components:"; cat "$$skip"; fi

# Every benchmark runs once so none rots between `make bench` runs.
benchsmoke:
	@for m in $(MODULES); do echo "benchmarks once ($$m)"; (cd $$m && $(GO) test -run '^$$' -bench . -benchtime=1x -timeout 20m ./... > /dev/null) || exit 1; done

# The load test once, about a second, printed and not recorded, so it cannot rot.
loadtest-smoke:
	cd benchmarks && $(GO) run ./cmd/loadtest -rounds 1 -warmup 100ms -duration 400ms

## bench: the side-by-side benchmarks, enough runs for benchstat, into benchmarks/RESULTS.md
bench:
	@mkdir -p benchmarks/results
	@# Sloth runs here only, never in make test: regenerate its rules for the side-by-side
	@# objective, check the committed copy is what it generates, and compare the two rule
	@# sets in promtool's scenarios (the cost benchmark below runs both in Prometheus).
	cd benchmarks && $(GO) run $(SLOTH) generate -i slorules/sloth.yaml -o results/sloth-rules.yaml
	cd benchmarks && diff -u slorules/sloth-rules.yaml results/sloth-rules.yaml
	cd benchmarks && OPSKIT_SIDE_BY_SIDE=1 OPSKIT_SLOTH_RULES=$(CURDIR)/benchmarks/results/sloth-rules.yaml $(GO) test -count=1 -run TestSideBySide -v -timeout 60m ./slorules/ | tee results/sloth-side-by-side.txt
	cd benchmarks && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCH_COUNT) -timeout 90m ./... | tee results/latest.txt
	cd benchmarks && $(GO) run ./cmd/benchtable -in results/latest.txt -out RESULTS.md
	@echo "wrote benchmarks/RESULTS.md (raw: benchmarks/results/latest.txt, for benchstat)"

## loadtest: the order service bare vs with the whole kit under load on loopback, appended to benchmarks/RESULTS.md
loadtest:
	cd benchmarks && $(GO) run ./cmd/loadtest -connections 8 -rounds 3 -warmup 2s -duration 10s -append RESULTS.md

## run: the example service on 127.0.0.1:8080 (make run ARGS="-addr 127.0.0.1:9090 -demo=false")
run:
	@echo "make run: building the example service (the first run downloads modules and compiles for a minute or so; it logs 'listening on' when it is up)"
	cd examples && $(GO) run ./service $(ARGS)

## lint: staticcheck at a pinned version
lint:
	@for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(GO) run $(STATICCHECK) ./...) || exit 1; done
