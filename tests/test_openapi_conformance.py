"""Schemathesis against ``/openapi.json``: every API operation, with bodies, parameters and
headers generated from the document itself (valid ones, and ones the document forbids),
sent with a paired phone's token to the app on the real daemon. Every answer must be
what the document says (status, content type, schema), valid requests must be taken,
invalid ones refused, and nothing may answer 500.

Bounded: ``EXAMPLES`` examples per operation and mode (12; ``NAPEKIT_OPENAPI_EXAMPLES``
sets more for a deeper run), derandomized (the same examples every run), so it takes
seconds. ``/api/events`` is left out (a stream that lasts two
minutes; its answers are checked in test_web_events); revoking phones goes last, since
it may revoke the token the others use.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from firmware.errors import CommandError

EXAMPLES = int(os.environ.get("NAPEKIT_OPENAPI_EXAMPLES", "12"))
SKIPPED = {("GET", "/api/events")}
LAST = ("DELETE", "/api/phones/{phone_id}")


def _daemon_knows(sim_daemon, cmd: str) -> bool:
    try:
        sim_daemon.daemon.handle(cmd, {}, None)
    except CommandError as exc:
        return exc.field != "command"
    return True


def _operations(schema) -> list:
    ops = [result.ok() for result in schema.get_all_operations()]
    ops = [op for op in ops if op.path.startswith("/api/") or op.path in ("/healthz",
                                                                           "/openapi.json")]
    ops = [op for op in ops if (op.method.upper(), op.path) not in SKIPPED]
    return sorted(ops, key=lambda op: (op.method.upper(), op.path) == LAST)


def _run(op, mode, schema, excluded) -> str | None:
    """Run one operation in one mode; the failure as text, or None."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode, auth_storage=schema.auth))
    def check(case):
        case.call_and_validate(headers={"Accept-Encoding": "identity"},
                               excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:
        return None  # nothing to negate (an operation without parameters or body)
    except BaseException as exc:  # noqa: BLE001 - schemathesis reports groups of failures
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"{op.method.upper()} {op.path} ({mode.value}):\n{exc}"
    return None


@pytest.mark.slow
def test_the_api_answers_as_its_openapi_document_says(app, sim_daemon):
    secret = sim_daemon.daemon.handle("pair_link", {}, None)["secret"]
    token = app.test_client().post("/api/pairing/link", json={"secret": secret}).json["token"]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app,
                                            headers={"Authorization": f"Bearer {token}"})

    @schema.auth()
    class PairedPhone:
        def get(self, case, context):
            return token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    # pause/resume: the page offers them only once the daemon has them (a 400 until then).
    not_yet = {f"/api/session/{cmd}" for cmd in ("pause", "resume")
               if not _daemon_knows(sim_daemon, cmd)}
    ops = _operations(schema)
    assert len(ops) >= 20
    failures = []
    for op in ops:
        excluded = [positive_data_acceptance] if op.path in not_yet else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _run(op, mode, schema, excluded)
            if failure:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)
