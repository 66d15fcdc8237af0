"""Schemathesis fuzzes every operation in the live OpenAPI document: no input may earn a 5xx.

Generation is bounded and derandomized so the run is repeatable and quick; the hub runs
on this test's event loop while the (blocking) schemathesis calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from .conftest import Desk

EXAMPLES_PER_OPERATION = 30
STREAMING = {("GET", "/api/v1/events")}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _problem(case: Any, status: int, content_type: str, body: str, streaming: bool) -> str | None:
    """Say what is wrong with one response, or None when it is a proper non-5xx answer."""
    where = f"{case.method} {case.formatted_path} -> {status}"
    if status >= 500:
        return f"{where}: {body[:300]}\n  reproduce: {case.as_curl_command()}"
    expected = "text/event-stream" if streaming and status == 200 else "json"
    if status != 204 and expected not in content_type:
        return f"{where}: not {expected} ({content_type or 'no Content-Type'})"
    return None


def _open_stream(case: Any, session: requests.Session, base_url: str,
                 headers: dict[str, str]) -> tuple[int, str, str]:
    """An event stream never ends: take its status and headers, read only error bodies."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    with session.request(**kwargs, stream=True, timeout=10) as response:
        body = "" if response.status_code == 200 else response.text
        return response.status_code, response.headers.get("Content-Type", ""), body


def _fuzz_operation(operation: Any, session: requests.Session, base_url: str,
                    headers: dict[str, str], problems: list[str]) -> int:
    """Positive and negative cases for one operation; returns how many calls were made."""
    streaming = (operation.method.upper(), operation.path) in STREAMING
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    calls = 0

    @FUZZ_SETTINGS
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        if streaming:
            problem = _problem(case, *_open_stream(case, session, base_url, headers), streaming)
        else:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
            content_type = " ".join(value for name, values in response.headers.items()
                                    if name.lower() == "content-type" for value in values)
            problem = _problem(case, response.status_code, content_type, response.text, streaming)
            if problem is None:
                case.validate_response(response, checks=[not_a_server_error])
        if problem is not None and problem not in problems:
            problems.append(problem)

    run()
    return calls


def _fuzz(schema: Any, base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Fuzz every operation in turn; return (calls, problems)."""
    problems: list[str] = []
    with requests.Session() as session:
        session.trust_env = False  # loopback only: no proxy settings from the environment
        calls = sum(_fuzz_operation(result.ok(), session, base_url, headers, problems)
                    for result in schema.get_all_operations())
    return calls, problems


async def test_no_operation_answers_5xx_to_generated_input(desk: Desk) -> None:
    resp = await desk.hub.http.get("/api/v1/openapi.json")
    assert resp.status == 200
    schema = schemathesis.openapi.from_dict(await resp.json())
    base_url = str(desk.hub.http.make_url("")).rstrip("/")

    calls, problems = await asyncio.to_thread(_fuzz, schema, base_url, desk.auth["admin"])

    assert not problems, "\n".join(problems)
    operations = sum(1 for _ in schema.get_all_operations())
    assert operations >= 40 and calls >= operations * 5, (operations, calls)
