from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from semcache.api.access import AccessMiddleware
from semcache.api.logs import JSONFormatter, RequestIDFilter, log_config
from semcache.errors import ConfigError

SECRET = "sc_0123456789abcdef_" + "f" * 64


async def hello(request: Request) -> PlainTextResponse:
    logging.getLogger("semcache.test").info("inside %s", request.path_params["name"])
    return PlainTextResponse("hi", status_code=201)


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def _app(seen: list[tuple[str, str, int, float]]) -> Starlette:
    observe = lambda *args: seen.append(args)  # noqa: E731
    return Starlette(
        routes=[Route("/hello/{name}", hello), Route("/boom", boom)],
        middleware=[Middleware(AccessMiddleware, observe=observe)],
    )


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    caught: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    handler = Keep()
    handler.addFilter(RequestIDFilter())
    logger = logging.getLogger("semcache")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield caught
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_each_request_gets_an_id_a_log_line_and_an_observation(
    records: list[logging.LogRecord],
) -> None:
    seen: list[tuple[str, str, int, float]] = []
    with TestClient(_app(seen)) as client:
        response = client.get("/hello/you", headers={"Authorization": f"Bearer {SECRET}"})
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 16
    assert seen[0][:3] == ("/hello/{name}", "GET", 201)
    inside, access = records
    assert inside.request_id == request_id and access.request_id == request_id  # type: ignore[attr-defined]
    assert access.name == "semcache.access" and access.status == 201  # type: ignore[attr-defined]
    assert access.path == "/hello/you"  # type: ignore[attr-defined]
    for record in records:
        assert SECRET not in json.dumps(vars(record), default=str)


def test_a_well_formed_incoming_id_is_kept_and_another_replaced() -> None:
    with TestClient(_app([])) as client:
        kept = client.get("/hello/x", headers={"X-Request-ID": "abc-123.def:9"})
        replaced = client.get("/hello/x", headers={"X-Request-ID": "no spaces <allowed>"})
        too_long = client.get("/hello/x", headers={"X-Request-ID": "a" * 129})
    assert kept.headers["x-request-id"] == "abc-123.def:9"
    assert replaced.headers["x-request-id"] != "no spaces <allowed>"
    assert len(too_long.headers["x-request-id"]) == 16


def test_unmatched_and_failing_requests_are_counted() -> None:
    seen: list[tuple[str, str, int, float]] = []
    with TestClient(_app(seen), raise_server_exceptions=False) as client:
        assert client.get("/nowhere").status_code == 404
        assert client.get("/boom").status_code == 500
    assert [s[:3] for s in seen] == [("unmatched", "GET", 404), ("/boom", "GET", 500)]


def test_json_lines_carry_the_fields(records: list[logging.LogRecord]) -> None:
    with TestClient(_app([])) as client:
        client.get("/hello/you", headers={"X-Request-ID": "r1"})
    line = json.loads(JSONFormatter().format(records[-1]))
    assert line["request_id"] == "r1" and line["level"] == "info"
    assert line["logger"] == "semcache.access" and line["status"] == 201
    assert line["method"] == "GET" and line["endpoint"] == "/hello/{name}"
    assert line["message"].startswith("testclient") and "duration_ms" in line


def test_json_lines_carry_exceptions() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, "f", 1, "failed %s", ("here",), exc_info=sys.exc_info()
        )
    record.color_message = "\x1b[36mfailed\x1b[0m %s"
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "failed here" and "ValueError: bad" in line["exception"]
    assert "color_message" not in line
    assert "request_id" not in line


def test_log_config_is_checked() -> None:
    config = log_config(level="info", log_format="json")
    assert config["formatters"]["default"]["()"] is JSONFormatter
    with pytest.raises(ConfigError, match="log_format"):
        log_config(level="info", log_format="xml")
    with pytest.raises(ConfigError, match="log_level"):
        log_config(level="loud", log_format="text")
