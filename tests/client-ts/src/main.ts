// A request taken through approval by a TypeScript client generated from
// openapi/ferry.json (openapi-typescript for the types, openapi-fetch for the
// calls), and nothing else: every path, body, query and answer below is
// typed by the document, so a change to it that breaks a client breaks the
// `tsc --strict` build or a check here.
//
// scripts/client-ts.sh generates the types, compiles this file and runs it
// against a real Ferry (API and worker) and `ferry sim`. Environment:
// FERRY_URL, FERRY_TOKEN_RESEARCHER (team research), FERRY_TOKEN_HOSTING,
// FERRY_SAMPLE_SOURCE (a model folder the sim holds).

import createClient from "openapi-fetch";
import type { components, paths } from "../generated/ferry.js";

type ImportOut = components["schemas"]["ImportOut"];
type ImportSummaryOut = components["schemas"]["ImportSummaryOut"];
type ImportStatus = components["schemas"]["ImportStatus"];
type Problem = components["schemas"]["Problem"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = env("FERRY_URL");
// The example configuration's prod requires approval and admits team research.
const APPROVAL_ENV = "prod";
// A bounded poll, not a timed assertion: the sim's jobs take a second.
const FOLLOW_TIMEOUT_MS = 120_000;
const FINISHED: readonly ImportStatus[] = ["completed", "failed", "rejected", "cancelled", "deleted"];

function client(token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

const researcher = client(env("FERRY_TOKEN_RESEARCHER"));
const hosting = client(env("FERRY_TOKEN_HOSTING"));

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/// The body of a successful answer, or an error naming the problem.
function ok<T>(what: string, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) {
    const problem = result.error as Problem | undefined;
    throw new Error(`${what}: ${result.response.status} ${problem?.code ?? ""} ${problem?.detail ?? ""}`);
  }
  return result.data;
}

function step(message: string): void {
  console.log(`client-ts: ${message}`);
}

async function main(): Promise<void> {
  const me = ok("GET /v1/me", await researcher.GET("/v1/me"));
  step(`signed in as ${me.name} (${me.role})`);

  // Submit, with an Idempotency-Key: the same key and body replay the answer.
  const modelName = `ts-client-${Date.now().toString(36)}`;
  const key = `ts-${crypto.randomUUID()}`;
  const body = {
    source: env("FERRY_SAMPLE_SOURCE"),
    environment: APPROVAL_ENV,
    model_name: modelName,
    description: "submitted by the generated TypeScript client",
    model_tags: { project: "client-ts" },
  };
  const created = await researcher.POST("/v1/imports", {
    body,
    params: { header: { "Idempotency-Key": key } },
  });
  const submitted: ImportOut = ok("POST /v1/imports", created);
  check(created.response.status === 201, `submit answered ${created.response.status}`);
  check(submitted.status === "pending_approval", `new request is ${submitted.status}`);
  check(!submitted.allowed_actions.includes("approve"), "the requester may approve its own request");
  step(`submitted ${submitted.id} (${submitted.status})`);

  const replayed = ok(
    "POST /v1/imports (replay)",
    await researcher.POST("/v1/imports", { body, params: { header: { "Idempotency-Key": key } } }),
  );
  check(replayed.id === submitted.id, "the replay answered another request");

  // List: the new request is among the team's requests waiting for approval.
  const page = ok(
    "GET /v1/imports",
    await researcher.GET("/v1/imports", {
      params: { query: { status: "pending_approval", environment: APPROVAL_ENV, limit: 50 } },
    }),
  );
  // List items are summaries: the whole request is one GET away.
  const items: ImportSummaryOut[] = page.items;
  const item = items.find((i) => i.id === submitted.id);
  check(item !== undefined, "the list does not show the new request");
  check(item !== undefined && item.allowed_actions.join() === submitted.allowed_actions.join(), "the list item's actions differ");
  check(item !== undefined && !("conditions" in item), "a list item carries the request's conditions");
  step(`listed ${items.length} request(s) waiting for approval`);

  // Separation of duties: the requester cannot approve; a second principal,
  // the hosting team, can.
  const refused = await researcher.POST("/v1/imports/{id}/approve", {
    params: { path: { id: submitted.id } },
    body: {},
  });
  check(refused.response.status === 403, `the requester's approval answered ${refused.response.status}`);
  check(refused.error?.code === "forbidden", `the requester's approval was refused with ${refused.error?.code}`);
  const seen = ok(
    "GET /v1/imports/{id} (hosting)",
    await hosting.GET("/v1/imports/{id}", { params: { path: { id: submitted.id } } }),
  );
  check(seen.allowed_actions.includes("approve"), "the hosting team may not approve");
  const approved = ok(
    "POST /v1/imports/{id}/approve",
    await hosting.POST("/v1/imports/{id}/approve", {
      params: { path: { id: submitted.id } },
      body: { comment: "approved by the TypeScript client" },
    }),
  );
  check(approved.status === "queued", `approved request is ${approved.status}`);
  step(`approved by the hosting team (${approved.status})`);

  // Follow it to the end.
  const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
  let current: ImportOut = approved;
  let last: ImportStatus | undefined;
  while (!FINISHED.includes(current.status)) {
    check(Date.now() < deadline, `still ${current.status} after ${FOLLOW_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    current = ok(
      "GET /v1/imports/{id}",
      await researcher.GET("/v1/imports/{id}", { params: { path: { id: submitted.id } } }),
    );
    if (current.status !== last) step(`  ${current.status}`);
    last = current.status;
  }
  check(current.status === "completed", `finished ${current.status}: ${current.failure_message ?? ""}`);
  check(typeof current.imported_model_arn === "string", "completed without a model ARN");

  const events = ok(
    "GET /v1/imports/{id}/events",
    await researcher.GET("/v1/imports/{id}/events", { params: { path: { id: submitted.id } } }),
  );
  const kinds = events.items.map((e) => e.kind);
  for (const kind of ["created", "approved"]) {
    check(kinds.includes(kind), `the audit trail lacks ${kind}: ${kinds.join(", ")}`);
  }
  step(`completed: ${current.imported_model_arn}; ${events.items.length} events`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
