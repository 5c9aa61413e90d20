"""Ferry's MCP server through the official MCP Python SDK (`mcp`), as an assistant uses it.

scripts/mcp.sh starts Ferry (API and worker) against `ferry sim` with the example
configuration (prod requires approval) and runs this file. Every test runs over both
transports: streamable HTTP (`/mcp` on the API, the bearer token in the header) and stdio
(`ferry mcp` started as a subprocess with FERRY_URL and FERRY_TOKEN). Tool results are the
REST API's answers: `structuredContent` is the response body, a refusal its problem document
with `isError`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

URL = os.environ["FERRY_URL"]
SOURCE = os.environ["FERRY_SAMPLE_SOURCE"]
FERRY_BIN = os.environ["FERRY_BIN"]
ROOT = Path(__file__).resolve().parents[2]
# Bounded polls, not timed assertions: the sim's jobs take a second.
FOLLOW_TIMEOUT_SECS = 120
TOOLS = {
    "list_environments",
    "submit_import",
    "get_import",
    "list_imports",
    "list_import_events",
    "approve_import",
    "reject_import",
    "model_card",
}

TRANSPORTS = ["http", "stdio"]


def token(role: str) -> str:
    return os.environ[f"FERRY_TOKEN_{role.upper()}"]


def connect(transport: str, role: str) -> Client:
    if transport == "http":
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token(role)}"}, timeout=60)
        return Client(streamable_http_client(f"{URL}/mcp", http_client=http))
    params = StdioServerParameters(
        command=FERRY_BIN, args=["mcp"], env={"FERRY_URL": URL, "FERRY_TOKEN": token(role)}
    )
    return Client(params)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def call(transport: str, role: str, tool: str, args: dict[str, Any]) -> Any:
    async with connect(transport, role) as client:
        return await client.call_tool(tool, args)


def ok(result: Any) -> Any:
    """The structured content of a successful call."""
    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    assert not result.is_error, texts
    return result.structured_content


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lists_tools_with_the_openapi_documents_schemas(transport: str) -> None:
    async def go() -> Any:
        async with connect(transport, "researcher") as client:
            return await client.list_tools()

    listed = run(go())
    tools = {t.name: t for t in listed.tools}
    assert TOOLS <= set(tools), sorted(tools)
    doc = json.loads((ROOT / "openapi" / "ferry.json").read_text())
    submit = tools["submit_import"].input_schema
    # The tool takes what POST /v1/imports takes, with the document's own rules.
    body = doc["components"]["schemas"]["ImportCreate"]
    assert set(body["properties"]) <= set(submit["properties"])
    assert set(submit["required"]) == set(body["required"])
    assert "idempotency_key" in submit["properties"]
    # The source (an S3 URI or a model package ARN) carries the document's pattern; named
    # rules are reachable as $defs.
    assert submit["properties"]["source"]["pattern"] == body["properties"]["source"]["pattern"]
    assert submit["properties"]["environment"]["$ref"] == "#/$defs/EnvironmentName"
    assert submit["$defs"]["EnvironmentName"] == doc["components"]["schemas"]["EnvironmentName"]
    approve = tools["approve_import"].input_schema
    assert approve["required"] == ["id"]
    assert approve["properties"]["comment"] == doc["components"]["schemas"]["ApproveRequest"]["properties"]["comment"]
    listing = tools["list_imports"].input_schema
    assert {"status", "environment", "team", "model_name", "limit", "cursor"} <= set(listing["properties"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_researcher_submits_is_refused_approval_and_hosting_approves(transport: str) -> None:
    envs = ok(run(call(transport, "researcher", "list_environments", {})))
    assert "prod" in {e["name"] for e in envs["items"]}
    assert any(SOURCE.startswith(s["uri"]) for s in envs["allowed_sources"]), envs

    name = unique(f"mcp-{transport}")
    created = ok(
        run(
            call(
                transport,
                "researcher",
                "submit_import",
                {"source": SOURCE, "environment": "prod", "model_name": name, "idempotency_key": name},
            )
        )
    )
    assert created["status"] == "pending_approval", created
    assert created["model_name"] == name
    request_id = created["id"]

    # A researcher may not approve: a tool error carrying the API's 403 problem.
    refused = run(call(transport, "researcher", "approve_import", {"id": request_id}))
    assert refused.is_error
    assert refused.structured_content["status"] == 403, refused.structured_content
    assert refused.structured_content["code"] == "forbidden"
    assert "researcher may not approve" in refused.content[0].text

    # Another team's researcher does not even see it (404, as in the REST API).
    hidden = run(call(transport, "vision", "get_import", {"id": request_id}))
    assert hidden.is_error and hidden.structured_content["status"] == 404

    approved = ok(run(call(transport, "hosting", "approve_import", {"id": request_id, "comment": "via MCP"})))
    assert approved["status"] == "queued", approved

    deadline = time.monotonic() + FOLLOW_TIMEOUT_SECS
    while True:
        result = run(call(transport, "researcher", "get_import", {"id": request_id}))
        current = ok(result)
        if current["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    explanation = result.content[0].text
    assert current["status"] == "completed", explanation
    assert f"Request {request_id}" in explanation and "is completed." in explanation
    assert "The preflight passed" in explanation, explanation
    assert any(c["type"] == "Approved" and c["status"] == "True" for c in current["conditions"])

    card = ok(run(call(transport, "researcher", "model_card", {"id": request_id})))
    assert card["model_arn"] == current["imported_model_arn"], card
    assert card["serving"] is True
    assert "boto3" in card["examples"]

    mine = ok(run(call(transport, "researcher", "list_imports", {"model_name": name})))
    assert [i["id"] for i in mine["items"]] == [request_id]
    trail = ok(run(call(transport, "researcher", "list_import_events", {"id": request_id})))
    assert "approved" in {e["kind"] for e in trail["items"]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_submit_waits_for_the_preflight_and_refuses_bad_fields(transport: str) -> None:
    name = unique(f"mcp-dev-{transport}")
    result = run(
        call(
            transport,
            "researcher",
            "submit_import",
            {"source": SOURCE, "environment": "dev", "model_name": name, "wait_seconds": 20},
        )
    )
    request = ok(result)
    assert request["preflight"] is not None, result.content[0].text
    assert "The preflight passed" in result.content[0].text

    bad = run(
        call(
            transport,
            "researcher",
            "submit_import",
            {"source": SOURCE, "environment": "dev", "model_name": "no spaces allowed"},
        )
    )
    assert bad.is_error
    problem = bad.structured_content
    assert problem["status"] == 422 and problem["code"] == "validation_failed", problem
    assert "/model_name" in {e["pointer"] for e in problem["errors"]}

    # Researchers do not reject either; the hosting team does, with a reason.
    pending = ok(
        run(
            call(
                transport,
                "researcher",
                "submit_import",
                {"source": SOURCE, "environment": "prod", "model_name": unique("mcp-reject")},
            )
        )
    )
    refused = run(call(transport, "researcher", "reject_import", {"id": pending["id"], "reason": "no"}))
    assert refused.is_error and refused.structured_content["status"] == 403
    rejected = ok(run(call(transport, "hosting", "reject_import", {"id": pending["id"], "reason": "not this week"})))
    assert rejected["status"] == "rejected"


def test_the_http_endpoint_needs_a_token() -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    res = httpx2.post(f"{URL}/mcp", json=init, headers=headers)
    assert res.status_code == 401, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    res = httpx2.post(f"{URL}/mcp", json=init, headers=headers | {"Authorization": "Bearer ferry_not-a-token"})
    assert res.status_code == 401, res.text


def test_stdio_without_a_token_says_so() -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "FERRY_TOKEN"}
    env["FERRY_URL"] = URL
    done = subprocess.run([FERRY_BIN, "mcp"], env=env, input="", capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "FERRY_TOKEN" in done.stderr
