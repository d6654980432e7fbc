# Payment Pet Functions. `make run` starts the whole stack locally; `make test` runs every test.
SHELL := /bin/bash
export GOFLAGS := -mod=mod

GO_PACKAGES := ./...

.PHONY: run test test-go lint tools migrate clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## build and start the whole stack: UI on :4000, gateway on :8080 (Ctrl-C stops it)
	@# The Postgres server binaries: installed with apt-get when we can (root), else the runner names the package.
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	go build -o .local/local ./local && exec .local/local run

test: lint tools test-go ## every test: formatting, vet, unit, integration and API tests

tools: .local/venv/.installed ## Python tools the tests use (schemathesis), in .local/venv

.local/venv/.installed: local/requirements.txt
	python3 -m venv .local/venv
	.local/venv/bin/pip install --quiet --disable-pip-version-check -r local/requirements.txt
	touch $@

lint: ## gofmt (the OpenFaaS build refuses unformatted code) and go vet, with and without the integration tag
	@unformatted=$$(gofmt -l functions local db eventing); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(GO_PACKAGES)
	go vet -tags integration $(GO_PACKAGES)

test-go: ## Go tests against a private Postgres cluster and an in-process Kafka broker
	go test -tags integration -count=1 -timeout 30m $(GO_PACKAGES)

migrate: ## apply db/migrations to DATABASE_URL (what a real deployment runs)
	go run ./db/migrate

clean: ## remove the local stack's data and builds
	rm -rf .local build
