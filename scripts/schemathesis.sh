#!/usr/bin/env bash
# Property-based tests of the running API against openapi.yaml with schemathesis.
#
# Builds and starts the local dev server (its own DynamoDB Local on a free port, data in a fresh
# temporary directory, so the developer's `.local/` data is never touched), waits until it listens,
# runs schemathesis with a token carrying tenant_admin and platform_admin in a tenant of its own,
# and stops everything on exit.
#
#   scripts/schemathesis.sh                       # the bounded default run (a few minutes)
#   MAX_EXAMPLES=200 scripts/schemathesis.sh      # a longer run
#   SEED=1234 scripts/schemathesis.sh --max-failures 1   # extra options go to every run
#
# Settings: SCHEMATHESIS (default .venv/bin/schemathesis, else `schemathesis` on PATH), PORT and
# DYNAMODB_PORT (default: free ports), MAX_EXAMPLES (default 30), SEED (default: random; each run
# prints its seed), PHASES (default examples,coverage,fuzzing,stateful), CHECKS (see below),
# REPORT_DIR (when set, JUnit and NDJSON reports per run are written there). Extra arguments go to
# every schemathesis run. Exit status: non-zero when any run found a failure.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS="${SCHEMATHESIS:-}"
if [[ -z "$SCHEMATHESIS" ]]; then
  if [[ -x .venv/bin/schemathesis ]]; then
    SCHEMATHESIS=.venv/bin/schemathesis
  elif command -v schemathesis >/dev/null; then
    SCHEMATHESIS="$(command -v schemathesis)"
  else
    echo "schemathesis not found: python3 -m venv .venv && .venv/bin/pip install schemathesis" >&2
    exit 2
  fi
fi

source "$ROOT/scripts/dev-server-lib.sh"

MAX_EXAMPLES="${MAX_EXAMPLES:-30}"
PHASES="${PHASES:-examples,coverage,fuzzing,stateful}"
# Every check except two that cannot hold for this API by design:
#  - positive_data_acceptance: rules JSON Schema cannot state make schema-valid requests fail (a
#    live organization_id, start_time < end_time, unique names, signed cursors, If-Match, no
#    control characters inside trimmed names);
#  - object_level_authorization: needs a second caller's credentials.
# use_after_free is off for the tenants run only: DELETE /v1/tenants/{id} is a soft delete and a
# platform_admin still reads the tenant with status `deleted`, as the contract says.
CHECKS="${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,allow_header_conformance,ignored_auth,use_after_free,ensure_resource_availability}"
SERVER_ENV=(TENANT_CACHE_TTL_SECONDS=0)
start_dev_server schemathesis

TOKEN="$("$DEV_TOKEN_BIN" --sub schemathesis-user --tenant schemathesis-tenant \
  --roles tenant_admin,platform_admin --ttl-seconds 7200)"

# Fixtures: an organization and a campaign under it. Random UUIDs never name a record, so without
# them the campaign operations would only ever see 404s and POST /v1/campaigns only its 422 for an
# unknown organization. Their ids are offered to the generator through dictionaries (with a
# probability below 1, so random ids are still tried). The first run has no DELETE, so they live
# through it; the second one adds the DELETEs, which may well remove them.
read -r FIXTURE_ORG FIXTURE_CAMPAIGN < <(BASE_URL="$BASE_URL" TOKEN="$TOKEN" python3 - <<'PY'
import json, os, urllib.request

def post(path, body):
    request = urllib.request.Request(
        os.environ["BASE_URL"] + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": "Bearer " + os.environ["TOKEN"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)

org = post("/v1/organizations", {"name": "schemathesis fixture", "domain": "fixture.example"})
campaign = post("/v1/campaigns", {"organization_id": org["id"], "name": "schemathesis fixture campaign"})
print(org["id"], campaign["id"])
PY
)
echo "fixtures: organization ${FIXTURE_ORG}, campaign ${FIXTURE_CAMPAIGN}"

CONFIG="$WORK/schemathesis.toml"
cat >"$CONFIG" <<TOML
[dictionaries.fixture-organization]
values = ["${FIXTURE_ORG}"]

[dictionaries.fixture-campaign]
values = ["${FIXTURE_CAMPAIGN}"]

[parameters]
"body.organization_id" = { dictionary = "fixture-organization", probability = 0.6 }
"query.organization_id" = { dictionary = "fixture-organization", probability = 0.5 }

[[operations]]
include-operation-id = ["getCampaign", "updateCampaign", "replaceCampaign"]
parameters = { "path.id" = { dictionary = "fixture-campaign", probability = 0.6 } }

[[operations]]
include-operation-id = [
  "getOrganization", "updateOrganization", "replaceOrganization", "listMembers", "inviteMember",
  "getMember", "updateMember", "listOrganizationCampaigns",
]
parameters = { "path.id" = { dictionary = "fixture-organization", probability = 0.5 } }
TOML

COMMON=(
  --url "$BASE_URL"
  -H "Authorization: Bearer ${TOKEN}"
  --checks "$CHECKS"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --workers 2
  --request-timeout 30
  --generation-database none
  --suppress-health-check too_slow,filter_too_much
  --no-color
)
if [[ -n "${SEED:-}" ]]; then
  COMMON+=(--seed "$SEED")
fi

# Three runs, destructive operations last. Schemathesis harvests ids from responses (its list
# responses included) and feeds them to every operation, DELETEs too, so:
#  1. "api": every operation except the DELETEs and the platform tenant writes, while the fixtures
#     are alive;
#  2. "api+deletes": the same plus DELETE (organizations, campaigns, members), which sooner or later
#     remove the fixtures;
#  3. "tenants": the tenant routes, PATCH and DELETE /v1/tenants/{id} included. A platform_admin may
#     suspend or delete any tenant, the caller's own too (stateful testing learns its id from
#     GET /v1/tenant), after which every tenant route is a 403 `tenant_inactive`: correct, but it
#     would starve any operation that came after.
run() {
  local name=$1
  shift
  local report=()
  if [[ -n "${REPORT_DIR:-}" ]]; then
    mkdir -p "$REPORT_DIR"
    report=(--report junit,ndjson --report-dir "$REPORT_DIR"
      --report-junit-path "$REPORT_DIR/${name/+/-}.xml" --report-ndjson-path "$REPORT_DIR/${name/+/-}.ndjson")
  fi
  echo
  echo "=== schemathesis run: $name ==="
  echo "${SCHEMATHESIS} --config-file <generated> run openapi.yaml ${COMMON[*]/Bearer */Bearer <token>} ${report[*]} $*"
  "$SCHEMATHESIS" --config-file "$CONFIG" run openapi.yaml "${COMMON[@]}" "${report[@]}" "$@"
}

# Unique Idempotency-Keys per request (see the hooks file for why).
export SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py"

PLATFORM_WRITES=(--exclude-operation-id updateTenant --exclude-operation-id deleteTenant)
DELETES=(--exclude-operation-id deleteOrganization --exclude-operation-id deleteCampaign
  --exclude-operation-id removeMember)

status=0
run api "${PLATFORM_WRITES[@]}" "${DELETES[@]}" "$@" || status=$?
run api+deletes "${PLATFORM_WRITES[@]}" "$@" || status=$?
run tenants --include-tag Tenants --exclude-checks use_after_free "$@" || status=$?
exit "$status"
