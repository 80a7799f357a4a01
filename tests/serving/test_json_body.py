"""Strict JSON bodies: duplicate keys and unknown top-level fields are refused, not resolved."""

from __future__ import annotations

import pytest
from tests.support.asgi import call, echo_app

from reprokit.serving.json_body import BodyError, StrictJsonMiddleware, check_body

RECORDS = frozenset({"records"})


def _refusal(body: bytes) -> BodyError:
    with pytest.raises(BodyError) as caught:
        check_body(body, RECORDS)
    return caught.value


def test_a_valid_body_passes() -> None:
    check_body(b'{"records": [{"age": 30, "city": "x"}]}', RECORDS)


def test_duplicate_keys_at_any_depth_are_400_naming_the_key() -> None:
    top = _refusal(b'{"records": [], "records": [{"age": 1}]}')
    assert (top.status, top.body["violations"][0]["field"]) == (400, "records")  # type: ignore[index]
    nested = _refusal(b'{"records": [{"age": 30, "income": 1, "age": 99}]}')
    assert nested.status == 400
    assert "duplicate key 'age'" in str(nested)


def test_unknown_top_level_fields_are_422_listing_what_the_endpoint_takes() -> None:
    error = _refusal(b'{"records": [], "explain": true, "threshold": 0.2}')
    assert error.status == 422
    assert "'explain', 'threshold'" in str(error)
    assert "takes: ['records']" in str(error)


def test_a_body_that_is_not_an_object_is_400_and_broken_json_is_left_to_bentoml() -> None:
    assert _refusal(b"[1, 2]").status == 400
    check_body(b'{"records": [', RECORDS)  # BentoML's own 400 says where it breaks
    check_body(b"[" * 100_000, RECORDS)  # too deep for Python's parser: BentoML's 400 too


def test_echoed_names_are_clipped() -> None:
    long_name = "x" * 5000
    error = _refusal(b'{"records": [], "' + long_name.encode() + b'": 1}')
    assert len(str(error)) < 600


def test_middleware_refuses_before_the_app_and_replays_good_bodies() -> None:
    app = StrictJsonMiddleware(echo_app)
    good = b'{"records": [{"age": 1}]}'
    assert call(app, "POST", "/predict", content=good).text == str(len(good))
    refused = call(app, "POST", "/predict", content=b'{"records": [], "records": []}')
    assert refused.status_code == 400
    assert refused.json()["violations"][0]["rule"] == "duplicate_key"
    # Other routes and methods are not its business.
    assert call(app, "POST", "/other", content=b'{"a": 1, "a": 2}').status_code == 200
    assert call(app, "GET", "/predict").status_code == 200
