#!/usr/bin/env bash
# The API through a generated client: generates a Python client from openapi.yaml with
# openapi-python-client (pinned in tools/requirements-check.txt), failing on any generator
# warning, then runs scripts/client_scenario.py with it against the local dev server.
#
# The server is started as scripts/schemathesis.sh starts it: its own DynamoDB Local on a free
# port with data in a fresh temporary directory (the developer's `.local/` data is never
# touched), secrets of this run only, everything stopped on exit.
#
#   scripts/client-scenario.sh
#
# Settings: PYTHON and OPENAPI_PYTHON_CLIENT (default: from .venv/), CLIENT_DIR (default
# .client, ignored by git), PORT and DYNAMODB_PORT (default: free ports), CARGO_TARGET_DIR (as
# for cargo). Exit status: non-zero when generation warns or a check of the scenario fails.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-.venv/bin/python}"
OPENAPI_PYTHON_CLIENT="${OPENAPI_PYTHON_CLIENT:-.venv/bin/openapi-python-client}"
CLIENT_DIR="${CLIENT_DIR:-.client}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
for tool in "$PYTHON" "$OPENAPI_PYTHON_CLIENT"; do
  [[ -x "$tool" ]] || { echo "$tool not found: run \`make tools\`" >&2; exit 2; }
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PORT="${PORT:-$(free_port)}"
DYNAMODB_PORT="${DYNAMODB_PORT:-$(free_port)}"
BASE_URL="http://127.0.0.1:${PORT}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/campaign-api-client.XXXXXX")"
SERVER_PID=""

cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    # SIGTERM: the dev server stops its DynamoDB Local and exits.
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$WORK/server.log" ]]; then
    echo "--- last lines of the server log ---" >&2
    grep -v 'TOKEN=\| INFO ' "$WORK/server.log" | tail -n 40 >&2 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. The client. Any warning means part of the API did not make it into the client (as with
#    the old allOf-narrowed problems, whose error responses were all dropped), so it fails.
echo "generating the Python client into ${CLIENT_DIR}/"
mkdir -p "$CLIENT_DIR"
CLIENT_DIR="$(cd "$CLIENT_DIR" && pwd)"
"$OPENAPI_PYTHON_CLIENT" generate --path openapi.yaml --meta none \
  --config tools/openapi-python-client.yaml \
  --output-path "$CLIENT_DIR/campaign_api_client" --overwrite >"$WORK/generate.log" 2>&1 || {
  cat "$WORK/generate.log" >&2
  echo "openapi-python-client failed" >&2
  exit 1
}
if grep -qi 'warning' "$WORK/generate.log"; then
  cat "$WORK/generate.log" >&2
  echo "openapi-python-client warned: the generated client is missing parts of openapi.yaml" >&2
  exit 1
fi

# 2. The server.
echo "building the dev server"
cargo build --quiet -p local --bin dev-server --bin dev-token

export JWT_HS256_SECRET="client-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')"
export CURSOR_SECRET="client-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')"

echo "starting the dev server on ${BASE_URL} (DynamoDB Local on ${DYNAMODB_PORT})"
PORT="$PORT" \
  DYNAMODB_PORT="$DYNAMODB_PORT" \
  DYNAMODB_DATA_DIR="$WORK/dynamodb" \
  TABLE_NAME="client-scenario" \
  AWS_ENDPOINT_URL_DYNAMODB="" \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$TARGET_DIR/debug/dev-server" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 600); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the dev server exited during start-up:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null || {
  echo "the dev server did not listen on ${PORT} within 120 s" >&2
  exit 1
}

# 3. The scenario, in a tenant of its own.
TOKEN="$("$TARGET_DIR/debug/dev-token" --sub client-scenario-user --tenant "client-$RANDOM$RANDOM" \
  --roles tenant_admin --ttl-seconds 600)"
BASE_URL="$BASE_URL" TOKEN="$TOKEN" PYTHONPATH="$CLIENT_DIR" \
  "$PYTHON" scripts/client_scenario.py
