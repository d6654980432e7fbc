# Payment Pet Functions. `make run` starts the whole stack locally; `make test` runs every test.
SHELL := /bin/bash
export GOFLAGS := -mod=mod

GO_PACKAGES := ./...

.PHONY: run test test-go test-manifests test-ui lint tools migrate clean help bench \
	kafka-cluster kafka-cluster-stop kafka-cluster-status kafka-broker-kill kafka-broker-restart test-kafka

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

run: ## build and start the whole stack: UI on :4000, gateway on :8080 (Ctrl-C stops it; other terminals: . .local/stack.env)
	@# The Postgres server binaries: installed with apt-get when we can (root), else the runner names the package.
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	go build -o .local/local ./local && exec .local/local run

test: lint tools test-go test-manifests test-ui ## every test: formatting, vet, unit, integration, API, manifest and UI tests

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
	go vet -tags integration,kafka ./local/...

test-go: ## Go tests against a private Postgres cluster and an in-process Kafka broker
	go test -tags integration -count=1 -timeout 30m $(GO_PACKAGES)

# eventing/validate is a Go module of its own (Knative and Kubernetes libraries stay out of the root
# go.mod that every function build copies), so the root's ./... does not reach it.
test-manifests: ## the manifests through Knative Serving's own defaulting and validation and the Pod Security checks
	cd eventing/validate && go vet ./... && go test -count=1 ./...

test-ui: ## UI: types, component tests, the page in Chromium against the local stack
	cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run lint && npm test && npm run test:e2e

KAFKA_CLUSTER := go run ./local/kafkacluster/cmd/kafka-cluster
# How many brokers kafka-cluster starts. (KAFKA_BROKERS, everywhere, is a list of addresses.)
BROKER_COUNT ?= 3

kafka-cluster: ## start real Apache Kafka in the background (BROKER_COUNT=3|1, RESET=1 starts afresh); prints KAFKA_BROKERS
	$(KAFKA_CLUSTER) start -brokers $(BROKER_COUNT) $(if $(RESET),-reset)

kafka-cluster-stop: ## stop the real Kafka cluster (its data stays in .local/kafka-cluster)
	$(KAFKA_CLUSTER) stop

kafka-cluster-status: ## brokers, partition leaders and in-sync replicas, consumer groups of the real Kafka cluster
	$(KAFKA_CLUSTER) status

kafka-broker-kill: ## kill -9 one broker of the real Kafka cluster: BROKER=2
	$(KAFKA_CLUSTER) kill $(BROKER)

kafka-broker-restart: ## start a killed broker again and wait until it is back in sync: BROKER=2
	$(KAFKA_CLUSTER) restart $(BROKER)

test-kafka: ## the failure experiments on real Apache Kafka, 3 brokers then 1 (needs Java 17 and Maven)
	go test -tags integration,kafka -count=1 -p 1 -timeout 40m -run '^TestRealKafka' ./local/kafkacluster/ ./local/runner/

bench: ## the stack against pgbench and a raw Kafka producer on this machine (~10 min, not part of test; BENCH_FLAGS="-phases e2e")
	go run ./local/bench $(BENCH_FLAGS)

migrate: ## apply db/migrations to DATABASE_URL (what a real deployment runs)
	go run ./db/migrate

clean: ## remove the local stack's data and builds
	rm -rf .local build
