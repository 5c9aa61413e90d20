"""schemathesis hooks of scripts/contract.sh (loaded through SCHEMATHESIS_HOOKS).

In the stateful phase a client follows a request before acting on it, as the
generated clients do: a request is promoted, or its model deleted, once it has
completed. Without waiting, every promotion in a scenario lands while the
worker is still importing (the sim's jobs take a second) and is refused as
`not_completed`, and the links to promote and delete are walked but rarely
succeed. This hook waits, boundedly, for the request named in the path to
leave the states the worker moves it out of by itself; it never changes the
case, so what is sent and what the checks expect stay as generated.
"""

import json
import os
import time
import urllib.error
import urllib.request

import schemathesis

# The operations whose success depends on the worker having moved the request on.
WAIT_BEFORE = {
    "promote_import": {"queued", "validating", "submitting", "importing", "verifying"},
    "delete_model": {"queued", "validating", "submitting", "importing", "verifying"},
}
# At most this long per request; states reached are remembered, so a request is
# waited for once per state rather than on every step that names it.
LIMIT_SECONDS = 15.0
_settled: dict[str, str] = {}


def _status(base_url: str, request_id: str) -> str | None:
    token = os.environ["FERRY_CONTRACT_ADMIN_TOKEN"]
    req = urllib.request.Request(
        f"{base_url}/v1/imports/{request_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp).get("status")
    except (urllib.error.URLError, ValueError, TimeoutError):
        return None


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or meta.phase.name.value != "stateful":
        return
    transient = WAIT_BEFORE.get(case.operation.definition.raw.get("operationId"))
    request_id = (case.path_parameters or {}).get("id")
    if transient is None or not isinstance(request_id, str) or len(request_id) != 36:
        return
    if _settled.get(request_id) is not None and _settled[request_id] not in transient:
        return
    base_url = os.environ["FERRY_CONTRACT_URL"]
    deadline = time.monotonic() + LIMIT_SECONDS
    while True:
        status = _status(base_url, request_id)
        if status is None or status not in transient or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if status is not None:
        _settled[request_id] = status
