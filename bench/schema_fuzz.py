"""Schemathesis over the whole OpenAPI schema, in-process, as a careless client and an attacker.

    .venv/bin/python bench/schema_fuzz.py                    # 200 cases per operation and mode
    .venv/bin/python bench/schema_fuzz.py --max-examples 50 --seed 7

Every operation of `/api/schema/` is fuzzed through Django's WSGI handler (no network, no
server), with data that fits the schema and data that does not, once with an API token and
once anonymous, on a fresh SQLite database. A case fails when the answer is a server error
(5xx), a status the schema does not declare for the operation, a body or content type the
schema does not describe, or a success for data the schema rules out; and, anonymous, when a
write succeeds outside the documented anonymous paths (docs/security.md). The figures printed
are cases run, server errors and violations by check; `tests/voiceproject/test_schema_fuzz.py`
runs the same with fewer cases and asserts there are none.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

SCHEMA_PATH = "/api/schema/"


def server_error(ctx, response, case) -> None:
    """A 500, or a 5xx the operation does not declare, is a server error.

    A declared 503 is an answer, not a crash: calls answer 503 `acs_not_configured` without
    ACS settings, readiness 503 when a dependency is down.
    """
    status = response.status_code
    declared = case.operation.responses.status_codes
    if status >= 500 and (status == 500 or str(status) not in declared):
        raise ServerError(operation=case.operation.label, status_code=status)


CHECKS = [
    server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Writes an anonymous client may make (docs/security.md): everything else answers 401/403.
# The webhooks take their own secret, which the fuzzer does not know.
ANONYMOUS_WRITES = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/agent-builder/create"),
    ("PUT", "/api/v1/agent-builder/session/{session_id}"),
    ("DELETE", "/api/v1/agent-builder/session/{session_id}"),
    ("POST", "/api/v1/demo-env/temporary-user"),
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
RATE_SETTINGS = ("API_ANON_RATE", "DEMO_CREATE_RATE", "SESSION_AGENT_WRITE_RATE")
UNLIMITED = "1000000/minute"


@dataclass
class Failure:
    operation: str
    check: str
    status: int
    message: str
    curl: str = ""

    def __str__(self) -> str:
        return f"{self.operation} [{self.status}] {self.check}: {self.message}"


@dataclass
class FuzzReport:
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    operations: int = 0

    @property
    def server_errors(self) -> int:
        return sum(1 for f in self.failures if f.check == ServerError.kind_title)

    def by_check(self) -> Counter:
        return Counter(f.check for f in self.failures)

    def merge(self, other: FuzzReport) -> None:
        self.cases += other.cases
        self.statuses.update(other.statuses)
        self.failures.extend(other.failures)
        self.operations = max(self.operations, other.operations)


def schema_load(app) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, app)


def fuzz_world() -> tuple[str, dict[str, str]]:
    """The shipped agents, a staff token (staff reach the most code), and objects for the
    path parameters to name: an agent, a template, a conversation with a turn, and calls (one
    recorded, one never: its `recording_state` is blank). Returns the token and the
    path parameter values."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from agentbuilder import selectors
    from agentbuilder.models import AgentTemplate
    from agentbuilder.services import library_load
    from calls.models import Call
    from media.engine.events import TurnMetrics
    from metrics import services as metrics

    library_load()
    user, _ = get_user_model().objects.get_or_create(
        username="schema-fuzz", defaults={"is_staff": True}
    )
    token = Token.objects.get_or_create(user=user)[0].key
    session_id = "session_schema_fuzz_0001"
    Call.objects.create(
        call_connection_id="call-never-recorded",
        direction=Call.Direction.OUTBOUND,
        from_number="+14255550100",
        to_number="+14255550123",
        status=Call.Status.CONNECTED,
        session_id=session_id,
    )
    Call.objects.create(
        call_connection_id="call-recorded",
        direction=Call.Direction.INBOUND,
        from_number="+14255550124",
        to_number="+14255550100",
        status=Call.Status.RINGING,
        record_call=True,
        recording_id="recording-1",
        recording_state=Call.RecordingState.ACTIVE,
        session_id="call-recorded",
    )
    metrics.session_open(
        session_id=session_id, transport="browser", user_id=user.pk, streaming_mode="cascade"
    )
    turn = TurnMetrics(
        session_id=session_id,
        turn_id=1,
        agent="Concierge",
        user_text="what is my balance",
        assistant_text="Your balance is ten dollars.",
        stt_final_ms=120.0,
        llm_ttft_ms=80.0,
        first_audio_ms=350.0,
        tokens_in=40,
        tokens_out=9,
    )
    metrics.turn_record(session_id=session_id, metrics=turn)
    metrics.flush_blocking()
    known = {
        "session_id": session_id,
        "name": selectors.agent_list().first().name,
        "template_id": AgentTemplate.objects.first().slug,
    }
    return token, known


def _first_line(text: str, limit: int = 600) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " | ".join(lines[:6])[:limit]


def fuzz(
    schema,
    *,
    max_examples: int,
    fuzz_seed: int,
    headers: dict[str, str] | None = None,
    anonymous: bool = False,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    known: dict[str, str] | None = None,
    only: Iterable[str] = (),
) -> FuzzReport:
    """Run every operation of `schema`, `max_examples` cases per operation and mode.

    Args:
        headers: sent with every case (an `Authorization` token for a signed-in run).
        anonymous: also count a successful write outside `ANONYMOUS_WRITES` as a failure.
        known: path parameter values of objects that exist: an operation whose path
            parameters are all known also gets `max_examples` valid cases on those objects.
        only: fuzz only the operations whose path contains one of these.
    """
    report = FuzzReport()
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if not only or any(part in operation.path for part in only)
    ]
    report.operations = len(operations)
    known = known or {}
    for operation in operations:
        path_names = [p.name for p in operation.path_parameters]
        passes = [(mode, None) for mode in modes]
        if path_names and all(name in known for name in path_names):
            passes.append((GenerationMode.POSITIVE, {name: known[name] for name in path_names}))
        for mode, path_parameters in passes:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            with contextlib.suppress(Unsatisfiable):  # nothing to negate without inputs
                _fuzz_operation(
                    operation,
                    strategy,
                    report,
                    max_examples=max_examples,
                    fuzz_seed=fuzz_seed,
                    headers=headers,
                    anonymous=anonymous,
                )
    return report


def _fuzz_operation(
    operation, strategy, report: FuzzReport, *, max_examples, fuzz_seed, headers, anonymous
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @seed(fuzz_seed)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        report.cases += 1
        report.statuses[response.status_code] += 1
        curl = case.as_curl_command(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                message = _first_line(failure.message)
                report.failures.append(
                    Failure(label, failure.title, response.status_code, message, curl)
                )
        method = case.method.upper()
        if (
            anonymous
            and method not in SAFE_METHODS
            and response.status_code < 400
            and (method, operation.path) not in ANONYMOUS_WRITES
        ):
            failure = Failure(label, "Anonymous write accepted", response.status_code, "", curl)
            report.failures.append(failure)

    run()


def print_report(title: str, report: FuzzReport, *, show: int = 40, verbose: bool = False) -> None:
    print(f"{title}: {report.cases} cases over {report.operations} operations")
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))
    print(f"  statuses  {statuses}")
    print(f"  server errors {report.server_errors}, failures {len(report.failures)}")
    for check, n in report.by_check().most_common():
        print(f"    {n:5d}  {check}")
    seen = set()
    for failure in report.failures:
        key = (failure.operation, failure.check)
        if key in seen:
            continue
        seen.add(key)
        print(f"  - {failure}")
        if verbose:
            print(f"      {failure.curl}")
        if len(seen) >= show:
            break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=200, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=20260312)
    parser.add_argument("--only", nargs="*", default=(), help="paths containing these")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failure's curl")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="schema-fuzz-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'fuzz.sqlite3'}"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    for rate in RATE_SETTINGS:  # fuzz the answers, not the rate limits (429 is declared)
        os.environ[rate] = UNLIMITED
    import django

    django.setup()
    logging.disable(logging.WARNING)  # 4xx answers are the point; errors still show
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    schema = schema_load(WSGIHandler())
    token, known = fuzz_world()
    started = time.perf_counter()
    total = FuzzReport()
    for title, headers, anonymous in (
        ("token", {"Authorization": f"Token {token}"}, False),
        ("anonymous", None, True),
    ):
        report = fuzz(
            schema,
            max_examples=args.max_examples,
            fuzz_seed=args.seed,
            headers=headers,
            anonymous=anonymous,
            known=known,
            only=args.only,
        )
        print_report(title, report, verbose=args.verbose)
        total.merge(report)
    elapsed = time.perf_counter() - started
    print(
        f"total: {total.cases} cases in {elapsed:.0f} s, server errors {total.server_errors}, "
        f"violations {len(total.failures)}"
    )
    return 1 if total.failures or total.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
