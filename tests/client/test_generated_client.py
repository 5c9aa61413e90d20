"""Ferry through a client generated from openapi/ferry.json, and nothing else.

scripts/client-python.sh generates `ferry_client` with openapi-python-client
from the committed document, installs it, starts Ferry (API and worker) against
`ferry sim` and runs this file. Every call below goes through the generated
functions and models: if the document and the server disagree on a path, a
status, a field or a type, a call here fails to parse or returns the wrong
model. Clients raise on any status the document does not declare.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import attrs
import pytest
from ferry_client import AuthenticatedClient, Client
from ferry_client.api.environments import list_environments
from ferry_client.api.imports import (
    approve_import,
    cancel_import,
    create_import,
    get_import,
    list_events,
    list_imports,
)
from ferry_client.models import (
    ApproveRequest,
    EnvironmentList,
    EventOut,
    EventPage,
    ImportCreate,
    ImportOut,
    ImportPage,
    ImportStatus,
    ImportSummaryOut,
    Problem,
)
from ferry_client.types import UNSET, Response

URL = os.environ["FERRY_URL"]
SOURCE = os.environ["FERRY_SAMPLE_SOURCE"]
# The example configuration's prod requires approval and admits team research.
APPROVAL_ENV = "prod"
TEAM = "research"
# Bounded polls, not timed assertions: the sim's jobs take a second.
FOLLOW_TIMEOUT_SECS = 120


def client(token_var: str) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=URL,
        token=os.environ[token_var],
        raise_on_unexpected_status=True,
        timeout=30.0,
    )


@pytest.fixture(scope="module")
def researcher() -> AuthenticatedClient:
    return client("FERRY_TOKEN_RESEARCHER")


@pytest.fixture(scope="module")
def vision() -> AuthenticatedClient:
    return client("FERRY_TOKEN_VISION")


@pytest.fixture(scope="module")
def hosting() -> AuthenticatedClient:
    return client("FERRY_TOKEN_HOSTING")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def parsed(response: Response[Any], status: int, model: type) -> Any:
    """The typed body of a response expected to have this status and model."""
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), (model, response.parsed)
    assert_declared(response.parsed)
    return response.parsed


def problem(response: Response[Any], status: int, code: str) -> Problem:
    """The problem+json body of an error response, as the client models it."""
    p = parsed(response, status, Problem)
    assert p.status == status
    assert p.code == code, p
    assert p.type_ == f"urn:ferry:problem:{code}", p
    assert p.title and p.detail and p.request_id, p
    assert response.headers["content-type"].startswith("application/problem+json")
    return p


def assert_declared(value: Any, path: str = "$") -> None:
    """Every field the server sent is one the document declares.

    Generated models keep undeclared keys in `additional_properties`. Models
    with declared properties must have none left over; free-form objects (a
    preflight report, tags, event details) have only `additional_properties`
    and are left alone.
    """
    if isinstance(value, list):
        for i, item in enumerate(value):
            assert_declared(item, f"{path}[{i}]")
        return
    if not attrs.has(type(value)):
        return
    names = [f.name for f in attrs.fields(type(value))]
    declared = [n for n in names if n != "additional_properties"]
    if "additional_properties" in names and declared:
        extra = value.additional_properties
        assert not extra, f"{path}: fields missing from openapi/ferry.json: {sorted(extra)}"
    for name in declared:
        assert_declared(getattr(value, name), f"{path}.{name}")


def all_events(c: AuthenticatedClient, import_id: uuid.UUID) -> tuple[list[EventOut], int]:
    """The whole trail, two events a page, following `next_cursor`."""
    events: list[EventOut] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = parsed(
            list_events.sync_detailed(str(import_id), client=c, limit=2, cursor=cursor or UNSET),
            200,
            EventPage,
        )
        pages += 1
        events.extend(page.items)
        if not page.next_cursor:
            return events, pages
        cursor = page.next_cursor


def follow(c: AuthenticatedClient, import_id: uuid.UUID) -> ImportOut:
    """Polls the request until it stops moving."""
    done = {ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED, ImportStatus.REJECTED}
    deadline = time.monotonic() + FOLLOW_TIMEOUT_SECS
    seen: list[ImportStatus] = []
    while True:
        current = parsed(get_import.sync_detailed(str(import_id), client=c), 200, ImportOut)
        if not seen or seen[-1] != current.status:
            seen.append(current.status)
        if current.status in done:
            return current
        assert time.monotonic() < deadline, f"still {current.status} after {FOLLOW_TIMEOUT_SECS}s: {seen}"
        time.sleep(0.3)


def test_environments_are_typed_and_prod_requires_approval(researcher: AuthenticatedClient) -> None:
    envs = parsed(list_environments.sync_detailed(client=researcher), 200, EnvironmentList)
    by_name = {e.name: e for e in envs.items}
    assert by_name[APPROVAL_ENV].requires_approval is True
    assert by_name["dev"].requires_approval is False
    assert any(s.team == TEAM and SOURCE.startswith(s.uri) for s in envs.allowed_sources), envs.allowed_sources


def test_an_import_is_created_approved_and_followed_to_completed(
    researcher: AuthenticatedClient, vision: AuthenticatedClient, hosting: AuthenticatedClient
) -> None:
    body = ImportCreate(
        source=SOURCE,
        environment=APPROVAL_ENV,
        model_name=unique("client-py"),
        description="through the generated Python client",
    )
    key = unique("key")

    # Created, waiting for the hosting team.
    created_response = create_import.sync_detailed(client=researcher, body=body, idempotency_key=key)
    created = parsed(created_response, 201, ImportOut)
    assert created.status == ImportStatus.PENDING_APPROVAL
    assert (created.team, created.environment, created.source) == (TEAM, APPROVAL_ENV, SOURCE)
    assert created.model_name == body.model_name
    assert created.requested_by == "client-researcher"
    assert created.attempt == 1
    assert created_response.headers["location"].endswith(f"/v1/imports/{created.id}")

    # The same key and body replay the first answer; no second request.
    replay = create_import.sync_detailed(client=researcher, body=body, idempotency_key=key)
    assert parsed(replay, 201, ImportOut).id == created.id
    assert replay.headers.get("idempotent-replayed") == "true"

    # The researcher may not approve; another team does not even see it.
    problem(approve_import.sync_detailed(str(created.id), client=researcher, body=ApproveRequest()), 403, "forbidden")
    problem(get_import.sync_detailed(str(created.id), client=vision), 404, "not_found")
    assert parsed(get_import.sync_detailed(str(created.id), client=researcher), 200, ImportOut).status == (
        ImportStatus.PENDING_APPROVAL
    )

    # The hosting team approves, with a comment for the trail.
    approved = parsed(
        approve_import.sync_detailed(
            str(created.id), client=hosting, body=ApproveRequest(comment="checked the preflight")
        ),
        200,
        ImportOut,
    )
    assert approved.status == ImportStatus.QUEUED
    assert any(c.type_ == "Approved" and c.status == "True" for c in approved.conditions), approved.conditions
    # Approving twice is a conflict, not a second approval.
    problem(approve_import.sync_detailed(str(created.id), client=hosting), 409, "invalid_transition")

    # The worker takes it from there: preflight, the Bedrock job, the model.
    final = follow(researcher, created.id)
    assert final.status == ImportStatus.COMPLETED, (final.failure_message, final.conditions)
    assert isinstance(final.bedrock_job_arn, str)
    assert final.bedrock_job_arn.startswith("arn:aws:bedrock:us-east-1:777788889999:model-import-job/")
    assert isinstance(final.imported_model_arn, str)
    assert final.imported_model_arn.startswith("arn:aws:bedrock:us-east-1:777788889999:imported-model/")
    assert final.failure_message in (None, UNSET)
    assert final.submitted_at and final.finished_at and final.finished_at >= final.submitted_at
    assert final.preflight is not None and final.preflight is not UNSET

    # The trail, oldest first, over several pages.
    events, pages = all_events(researcher, created.id)
    assert pages > 1, "the trail fits one page of two; the cursor was never exercised"
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    statuses = [(e.from_status, e.to_status) for e in events if e.to_status not in (None, UNSET)]
    assert statuses == [
        (None, ImportStatus.PENDING_APPROVAL),
        (ImportStatus.PENDING_APPROVAL, ImportStatus.QUEUED),
        (ImportStatus.QUEUED, ImportStatus.VALIDATING),
        (ImportStatus.VALIDATING, ImportStatus.SUBMITTING),
        (ImportStatus.SUBMITTING, ImportStatus.IMPORTING),
        (ImportStatus.IMPORTING, ImportStatus.VERIFYING),
        (ImportStatus.VERIFYING, ImportStatus.COMPLETED),
    ], [(e.kind, e.from_status, e.to_status) for e in events]
    by_kind = {e.kind: e for e in events}
    assert events[0].kind == "created" and events[0].actor == "client-researcher"
    assert by_kind["approved"].actor == "client-hosting"
    assert by_kind["approved"].detail["comment"] == "checked the preflight"
    assert by_kind["preflight_passed"].actor == "ferry"
    assert by_kind["job_created"].detail["job_arn"] == final.bedrock_job_arn
    assert by_kind["job_completed"].to_status == ImportStatus.VERIFYING
    assert by_kind["job_completed"].detail["imported_model_arn"] == final.imported_model_arn
    # The readiness check: the model answered, and its card came with the event.
    last = events[-1]
    assert (last.kind, last.to_status) == ("model_ready", ImportStatus.COMPLETED)
    assert last.detail["imported_model_arn"] == final.imported_model_arn
    assert last.detail["card"]["model_arn"] == final.imported_model_arn

    # Found again in the team's list, walked one item a page, newest first; list
    # items are summaries, the whole request one GET away.
    listed: list[ImportSummaryOut] = []
    cursor: str | None = None
    while True:
        page = parsed(
            list_imports.sync_detailed(
                client=hosting, team=TEAM, environment=APPROVAL_ENV, limit=1, cursor=cursor or UNSET
            ),
            200,
            ImportPage,
        )
        assert len(page.items) <= 1
        listed.extend(page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert all(i.team == TEAM and i.environment == APPROVAL_ENV for i in listed)
    assert len({i.id for i in listed}) == len(listed)
    assert [i.created_at for i in listed] == sorted((i.created_at for i in listed), reverse=True)
    found = next(i for i in listed if i.id == created.id)
    assert found.status == ImportStatus.COMPLETED
    assert found.imported_model_arn == final.imported_model_arn
    assert not hasattr(found, "preflight") and not hasattr(found, "conditions")
    assert parsed(get_import.sync_detailed(str(found.id), client=hosting), 200, ImportOut).preflight
    completed = parsed(
        list_imports.sync_detailed(client=researcher, team=TEAM, status=ImportStatus.COMPLETED),
        200,
        ImportPage,
    )
    assert created.id in {i.id for i in completed.items}


def test_an_invalid_body_is_a_problem_naming_each_field(researcher: AuthenticatedClient) -> None:
    body = ImportCreate(source="s3://Not_A_Bucket/x", environment=APPROVAL_ENV, model_name="no spaces allowed")
    p = problem(create_import.sync_detailed(client=researcher, body=body), 422, "validation_failed")
    assert p.errors is not UNSET and p.errors, p
    pointers = {e.pointer: e for e in p.errors}
    assert {"/source", "/model_name"} <= set(pointers), pointers
    assert all(e.rule and e.detail for e in p.errors), p.errors


def test_an_invalid_query_is_a_problem_naming_the_parameter(researcher: AuthenticatedClient) -> None:
    p = problem(list_imports.sync_detailed(client=researcher, limit=0), 400, "invalid_query")
    assert p.errors is not UNSET and [e.pointer for e in p.errors] == ["/query/limit"], p


def test_a_reused_idempotency_key_with_another_body_is_refused(researcher: AuthenticatedClient) -> None:
    key = unique("key")
    first = ImportCreate(source=SOURCE, environment=APPROVAL_ENV, model_name=unique("client-py"))
    created = parsed(create_import.sync_detailed(client=researcher, body=first, idempotency_key=key), 201, ImportOut)
    other = ImportCreate(source=SOURCE, environment=APPROVAL_ENV, model_name=unique("client-py"))
    problem(
        create_import.sync_detailed(client=researcher, body=other, idempotency_key=key), 422, "idempotency_key_reused"
    )
    # Cancelled without a body: the document makes it optional, as the server does.
    cancelled = parsed(cancel_import.sync_detailed(str(created.id), client=researcher), 200, ImportOut)
    assert cancelled.status == ImportStatus.CANCELLED


def test_without_a_token_the_answer_is_a_problem() -> None:
    anonymous = Client(base_url=URL, raise_on_unexpected_status=True)
    problem(list_imports.sync_detailed(client=anonymous), 401, "unauthorized")  # type: ignore[arg-type]
