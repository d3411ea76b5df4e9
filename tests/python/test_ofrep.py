"""The OFREP endpoints against the real OpenFeature Python SDK and its OFREP provider
(openfeature-sdk, openfeature-provider-ofrep): boolean and variant flags, the targeting
key and context attributes, a missing flag, and a flag changed between evaluations."""

import json
import urllib.request

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason


def put_flag(shoal, name, change):
    req = urllib.request.Request(
        f"http://{shoal.http}/api/v1/flags/{name}",
        data=json.dumps(change).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status in (200, 201)


@pytest.fixture()
def client(shoal):
    api.set_provider(OFREPProvider(base_url=f"http://{shoal.http}"), domain="shoal")
    return api.get_client(domain="shoal")


def test_boolean_flags_by_targeting_key_and_context(shoal, client):
    put_flag(shoal, "of_beta", {"enabled": True, "rollout": 100, "deny": ["mallory"],
                                "constraints": [{"header": "X-Country", "in": ["DE", "FR"]}]})
    de = EvaluationContext(targeting_key="alice", attributes={"X-Country": "DE"})
    details = client.get_boolean_details("of_beta", False, de)
    assert details.value is True
    assert details.variant == "on"
    assert details.error_code is None

    # The constraint misses: off, for a reason, not an error.
    us = EvaluationContext(targeting_key="alice", attributes={"X-Country": "US"})
    details = client.get_boolean_details("of_beta", True, us)
    assert details.value is False
    assert details.error_code is None
    assert details.reason == Reason.TARGETING_MATCH

    denied = EvaluationContext(targeting_key="mallory", attributes={"X-Country": "DE"})
    assert client.get_boolean_value("of_beta", True, denied) is False


def test_a_rollout_is_sticky_per_targeting_key(shoal, client):
    put_flag(shoal, "of_half", {"enabled": True, "rollout": 50})
    answers = {}
    for i in range(200):
        ctx = EvaluationContext(targeting_key=f"user-{i}")
        answers[i] = client.get_boolean_value("of_half", False, ctx)
        assert client.get_boolean_value("of_half", False, ctx) == answers[i]
    on = sum(answers.values())
    assert 70 <= on <= 130, on
    details = client.get_boolean_details("of_half", False, EvaluationContext(targeting_key="user-1"))
    assert details.reason == Reason.SPLIT


def test_variant_flags_answer_the_variant(shoal, client):
    put_flag(shoal, "of_colour", {"enabled": True, "rollout": 100,
                                  "variants": [{"name": "blue", "weight": 1}, {"name": "green", "weight": 1}]})
    seen = set()
    for i in range(50):
        d = client.get_string_details("of_colour", "none", EvaluationContext(targeting_key=f"u{i}"))
        assert d.error_code is None
        assert d.value in ("blue", "green")
        assert d.variant == d.value
        seen.add(d.value)
    assert seen == {"blue", "green"}
    put_flag(shoal, "of_colour", {"enabled": False})
    d = client.get_string_details("of_colour", "none", EvaluationContext(targeting_key="u1"))
    assert d.value == "off"
    assert d.reason == Reason.DISABLED


def test_a_missing_flag_is_flag_not_found_and_the_default(shoal, client):
    d = client.get_boolean_details("of_no_such_flag", True, EvaluationContext(targeting_key="a"))
    assert d.value is True
    assert d.error_code == ErrorCode.FLAG_NOT_FOUND


def test_a_change_shows_on_the_next_evaluation(shoal, client):
    put_flag(shoal, "of_switch", {"enabled": True, "rollout": 100})
    ctx = EvaluationContext(targeting_key="bob")
    assert client.get_boolean_value("of_switch", False, ctx) is True
    put_flag(shoal, "of_switch", {"enabled": False})
    assert client.get_boolean_value("of_switch", True, ctx) is False
