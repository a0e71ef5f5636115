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
for tool in "$PYTHON" "$OPENAPI_PYTHON_CLIENT"; do
  [[ -x "$tool" ]] || { echo "$tool not found: run \`make tools\`" >&2; exit 2; }
done

source "$ROOT/scripts/dev-server-lib.sh"

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
SERVER_ENV=()
start_dev_server client-scenario

# 3. The scenario, in a tenant of its own.
TOKEN="$("$DEV_TOKEN_BIN" --sub client-scenario-user --tenant "client-$RANDOM$RANDOM" \
  --roles tenant_admin --ttl-seconds 600)"
BASE_URL="$BASE_URL" TOKEN="$TOKEN" PYTHONPATH="$CLIENT_DIR" \
  "$PYTHON" scripts/client_scenario.py
