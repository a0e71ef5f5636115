# Sourced by the scripts that test a running local API (schemathesis.sh, client-scenario.sh): a
# dev server of their own on free ports, with its own DynamoDB Local whose data lives in a fresh
# temporary directory (the developer's `.local/` data is never touched), secrets of the run
# only, and everything stopped on exit.
#
# After `start_dev_server NAME`: BASE_URL, WORK (a temporary directory removed on exit),
# DEV_TOKEN_BIN (the dev-token binary), JWT_HS256_SECRET and CURSOR_SECRET (exported).
# Settings: PORT and DYNAMODB_PORT (default: free ports), CARGO_TARGET_DIR (as for cargo),
# extra environment for the server in SERVER_ENV (an array of NAME=value).

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/campaign-api-run.XXXXXX")"

stop_dev_server() {
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
trap stop_dev_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

listening() {
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null
}

# start_dev_server TABLE_NAME: builds and starts the server, waits until it listens.
start_dev_server() {
  local table="$1"
  PORT="${PORT:-$(free_port)}"
  DYNAMODB_PORT="${DYNAMODB_PORT:-$(free_port)}"
  BASE_URL="http://127.0.0.1:${PORT}"
  local target="${CARGO_TARGET_DIR:-target}"
  DEV_TOKEN_BIN="$target/debug/dev-token"
  echo "building the dev server"
  cargo build --quiet -p local --bin dev-server --bin dev-token
  export JWT_HS256_SECRET="${table}-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  export CURSOR_SECRET="${table}-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  echo "starting the dev server on ${BASE_URL} (DynamoDB Local on ${DYNAMODB_PORT}, data in ${WORK})"
  env PORT="$PORT" DYNAMODB_PORT="$DYNAMODB_PORT" DYNAMODB_DATA_DIR="$WORK/dynamodb" \
    TABLE_NAME="$table" AWS_ENDPOINT_URL_DYNAMODB="" RUST_LOG="${RUST_LOG:-warn}" \
    "${SERVER_ENV[@]}" "$target/debug/dev-server" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the dev server exited during start-up:" >&2
      cat "$WORK/server.log" >&2
      exit 1
    fi
    listening && return 0
    sleep 0.2
  done
  echo "the dev server did not listen on ${PORT} within 120 s" >&2
  exit 1
}
