"""A short scenario against the local API through the client openapi-python-client generates
from openapi.yaml (run by scripts/client-scenario.sh, which generates the client and starts the
server). It checks that a generated client can use the API: typed successes, two pages walked
with the cursor, and a 412, a 409, a 404 and a 422 that come back as typed `Problem`s with their
`code`, not as "unexpected status" errors.

Environment: BASE_URL, TOKEN (a dev token with a tenant of its own). Exit status 1 on the first
failed check.
"""

import os
import sys
import uuid
from http import HTTPStatus

from campaign_api_client import AuthenticatedClient
from campaign_api_client.api.campaigns import (
    create_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from campaign_api_client.api.organizations import create_organization
from campaign_api_client.models import (
    Campaign,
    CampaignCreate,
    CampaignPage,
    CampaignUpdate,
    Organization,
    OrganizationCreate,
    Problem,
    ProblemCode,
)
from campaign_api_client.types import UNSET

checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def expect_problem(response, status, code, what):
    """The response is `status` and the client parsed its body as a Problem with `code`."""
    check(
        response.status_code == status,
        f"{what}: status {int(response.status_code)}, expected {int(status)}: {response.content!r}",
    )
    problem = response.parsed
    check(isinstance(problem, Problem), f"{what}: parsed as {type(problem).__name__}, not Problem")
    check(problem.code == code, f"{what}: code {problem.code!r}, expected {code!r}")
    check(problem.status == int(status), f"{what}: problem status {problem.status}")
    check(
        problem.request_id == response.headers.get("x-request-id"),
        f"{what}: request_id {problem.request_id!r} is not the x-request-id header",
    )
    return problem


def main():
    client = AuthenticatedClient(
        base_url=os.environ["BASE_URL"],
        token=os.environ["TOKEN"],
        raise_on_unexpected_status=True,
        timeout=30.0,
    )
    run = uuid.uuid4().hex[:8]

    # An organization.
    name = f"Scenario {run}"
    created = create_organization.sync_detailed(
        client=client,
        body=OrganizationCreate(name=name, domain=f"s{run}.example.com"),
        idempotency_key=f"scenario-org-{run}",
    )
    check(created.status_code == HTTPStatus.CREATED, f"create organization: {created.content!r}")
    org = created.parsed
    check(isinstance(org, Organization), f"create organization parsed as {type(org).__name__}")
    check(org.name == name and org.member_count == 1, f"organization: {org!r}")
    check(
        created.headers.get("location") == f"/v1/organizations/{org.id}",
        f"Location {created.headers.get('location')!r}",
    )

    # Three campaigns under it, for two pages of two.
    campaign_ids = []
    for i in range(3):
        response = create_campaign.sync_detailed(
            client=client,
            body=CampaignCreate(organization_id=org.id, name=f"Campaign {i} of {run}"),
        )
        check(response.status_code == HTTPStatus.CREATED, f"create campaign {i}: {response.content!r}")
        check(isinstance(response.parsed, Campaign), f"campaign {i} parsed")
        check(response.parsed.organization_id == org.id, f"campaign {i} organization")
        campaign_ids.append(response.parsed.id)
    etag = response.headers.get("etag")
    check(etag is not None and etag.startswith('"'), f"ETag {etag!r}")

    # Two pages, newest first, every campaign once.
    first = list_campaigns.sync_detailed(client=client, limit=2, organization_id=org.id)
    check(first.status_code == HTTPStatus.OK, f"first page: {first.content!r}")
    page = first.parsed
    check(isinstance(page, CampaignPage), f"first page parsed as {type(page).__name__}")
    check(len(page.data) == 2 and page.has_more, f"first page: {len(page.data)} items, has_more {page.has_more}")
    check(isinstance(page.next_cursor, str) and page.next_cursor, "first page has a cursor")
    second = list_campaigns.sync_detailed(
        client=client, limit=2, organization_id=org.id, cursor=page.next_cursor
    )
    check(second.status_code == HTTPStatus.OK, f"second page: {second.content!r}")
    last = second.parsed
    check(isinstance(last, CampaignPage), "second page parsed")
    check(len(last.data) == 1 and not last.has_more, f"second page: {len(last.data)} items")
    check(last.next_cursor is None, "the last page has no cursor")
    walked = [c.id for c in page.data + last.data]
    check(walked == list(reversed(campaign_ids)), f"pages {walked} are not newest first of {campaign_ids}")

    # 412: a stale If-Match.
    stale = update_campaign.sync_detailed(
        campaign_ids[-1], client=client, body=CampaignUpdate(name=f"Renamed {run}"), if_match='"999"'
    )
    expect_problem(stale, HTTPStatus.PRECONDITION_FAILED, ProblemCode.PRECONDITION_FAILED, "stale If-Match")
    # The current ETag still works.
    fresh = update_campaign.sync_detailed(
        campaign_ids[-1], client=client, body=CampaignUpdate(name=f"Renamed {run}"), if_match=etag
    )
    check(fresh.status_code == HTTPStatus.OK, f"update with the current ETag: {fresh.content!r}")
    check(fresh.parsed.name == f"Renamed {run}", "the rename applied")

    # 409: the organization name is taken (case-insensitively).
    clash = create_organization.sync_detailed(client=client, body=OrganizationCreate(name=name.upper()))
    expect_problem(clash, HTTPStatus.CONFLICT, ProblemCode.CONFLICT, "duplicate organization name")

    # 404: no such campaign.
    missing = get_campaign.sync_detailed(uuid.uuid4(), client=client)
    expect_problem(missing, HTTPStatus.NOT_FOUND, ProblemCode.NOT_FOUND, "unknown campaign")

    # 422, with the field errors typed too.
    invalid = list_campaigns.sync_detailed(client=client, limit=0)
    problem = expect_problem(
        invalid, HTTPStatus.UNPROCESSABLE_ENTITY, ProblemCode.VALIDATION_FAILED, "limit=0"
    )
    check(problem.errors is not UNSET and "limit" in problem.errors.additional_properties, "errors.limit")

    print(f"client scenario: {checks} checks passed")


if __name__ == "__main__":
    main()
