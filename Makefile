# The two commands a new user needs: `make run-cluster` and `make test`. `make help` lists all.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help build test test-rust test-c lint bench fuzz chaos run-cluster stop-cluster clean

# `make chaos`: the chaos run's settings (see `chaos --help`); SEED replays a run, KEEP keeps its
# stores and logs in a directory, CHAOS_FLAGS passes any other flag.
ROUNDS ?= 10
TOPOLOGY ?= replicated
FLUSH ?= async
ROLE ?= SYNC_MASTER
CONNECTIONS ?= 4
SEED ?=
KEEP ?=
CHAOS_FLAGS ?=

help:
	@echo "make run-cluster   start namesrv, broker-a master and its slave under ./run/"
	@echo "make stop-cluster  stop what run-cluster started"
	@echo "make test          every test of every crate and language (what CI runs)"
	@echo "make lint          cargo fmt --check and clippy -D warnings"
	@echo "make build         release build of every binary"
	@echo "make bench         the benchmark suite (numbers go to BENCHMARKS.md)"
	@echo "make fuzz          run the cargo-fuzz targets locally (nightly; not in CI)"
	@echo "make chaos         kill -9 brokers under load, then check no acked message is lost:"
	@echo "                   ROUNDS=10 TOPOLOGY=replicated|single FLUSH=async|sync"
	@echo "                   ROLE=SYNC_MASTER|ASYNC_MASTER CONNECTIONS=4 SEED=... KEEP=dir"

build:
	$(CARGO) build --release --workspace --bins

# Integration tests start the real binaries, so they are built first. The Java interop probes
# are built by the tests themselves (Maven Central); the C header check compiles with cc.
test:
	$(CARGO) build --workspace --bins --examples
	mkdir -p target
	set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test-output.log
	@scripts/test-summary.sh target/test-output.log

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p wire --bench decode
	$(CARGO) bench -p namesrv --bench route_query -- 5 4 16
	$(CARGO) bench -p broker --bench append
	$(CARGO) build --release --bins
	$(CARGO) bench -p integration --bench replication
	scripts/bench-suite.sh

fuzz:
	scripts/fuzz.sh

# Release binaries, then the chaos tool (integration/src/bin/chaos) beside them.
chaos:
	$(CARGO) build --release --workspace --bins
	$(CARGO) run --release -q -p integration --bin chaos -- --rounds $(ROUNDS) \
		--topology $(TOPOLOGY) --flush $(FLUSH) --role $(ROLE) --connections $(CONNECTIONS) \
		$(if $(SEED),--seed $(SEED)) $(if $(KEEP),--keep $(KEEP)) $(CHAOS_FLAGS)

run-cluster: build
	scripts/cluster.sh start

stop-cluster:
	scripts/cluster.sh stop

clean:
	$(CARGO) clean
	rm -rf run
