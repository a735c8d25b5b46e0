"""Names, durations, times and runtimes: the small value types of a plan."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusionizer.plan.schema import plan_schema
from fusionizer.plan.values import (
    is_dns_label,
    normalise_runtime,
    parse_duration,
    parse_time,
    suggest_dns_label,
)


@pytest.mark.parametrize("text, expected", [
    ("40s", timedelta(seconds=40)),
    ("5m", timedelta(minutes=5)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("2d", timedelta(days=2)),
    ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("0s", timedelta(0)),
    ("90m", timedelta(minutes=90)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5min", "1.5h", "30m1h", "1h1h", "-5s", "500ms", " 5s", "5 s", "1w"])
def test_bad_durations(text):
    assert parse_duration(text) is None


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=4, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4))
def test_duration_round_trip_and_schema_agree(amounts, present):
    if not any(present):
        present = [False, False, False, True]
    text = "".join(f"{n}{u}" for n, u, p in zip(amounts, "dhms", present) if p)
    d, h, m, s = (n if p else 0 for n, p in zip(amounts, present))
    assert parse_duration(text) == timedelta(days=d, hours=h, minutes=m, seconds=s)
    # The schema's pattern (shown by editors) accepts exactly what the parser does.
    pattern = plan_schema()["$defs"]["scheduleEntry"]["properties"]["after"]["pattern"]
    assert re.match(pattern, text)


@given(st.text(alphabet="0123456789dhms. -", max_size=8))
def test_schema_pattern_and_parser_agree_on_anything(text):
    pattern = plan_schema()["$defs"]["scheduleEntry"]["properties"]["after"]["pattern"]
    try:
        understood = parse_duration(text) is not None
    except ValueError:  # in the grammar, but longer than 100 years
        understood = True
    assert bool(re.match(pattern, text)) == understood


@pytest.mark.parametrize("text", ["36501d", "876025h", "9999999999d", "99999999999999999999999s"])
def test_durations_beyond_100_years_are_refused_with_advice(text):
    with pytest.raises(ValueError, match=r"is longer than 36500d \(100 years\); write a shorter duration"):
        parse_duration(text)
    assert parse_duration("36500d") == timedelta(days=36500)


@pytest.mark.parametrize("text, expected", [
    ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=timezone.utc)),
    ("2030-01-01t00:00:00z", datetime(2030, 1, 1, tzinfo=timezone.utc)),
    ("2030-01-01 08:00:00+01:00", datetime(2030, 1, 1, 7, tzinfo=timezone.utc)),
    ("2026-12-01T08:00:00.25-05:30", datetime(2026, 12, 1, 13, 30, 0, 250000, tzinfo=timezone.utc)),
])
def test_rfc3339_times(text, expected):
    parsed = parse_time(text)
    assert parsed == expected and parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("text", [
    "2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", "2030-02-30T00:00:00Z",
    "2030-01-01T25:00:00Z", "tomorrow", "2030-1-1T00:00:00Z", "2030-01-01T00:00Z",
])
def test_bad_times(text):
    assert parse_time(text) is None


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(timezone.utc)))
def test_time_round_trip(when):
    assert parse_time(when.isoformat()) == when


@pytest.mark.parametrize("name", ["a", "taska", "validate-order", "a1", "1a", "x" * 63])
def test_dns_labels(name):
    assert is_dns_label(name)


@pytest.mark.parametrize("name", ["", "A", "a_b", "-a", "a-", "a.b", "x" * 64, "é"])
def test_not_dns_labels(name):
    assert not is_dns_label(name)


@given(st.text(max_size=80))
def test_suggested_labels_are_labels(name):
    assert is_dns_label(suggest_dns_label(name))


def test_dns_pattern_in_the_schema_matches_the_code():
    pattern = plan_schema()["$defs"]["dnsLabel"]["pattern"]
    for name in ["a", "validate-order", "A", "a_b", "-a", "a-"]:
        assert bool(re.match(pattern, name)) == is_dns_label(name)


@pytest.mark.parametrize("runtime, expected", [
    ("python", ("python:3.9", "ok")),
    ("python:3.11", ("python:3.11", "ok")),
    ("python:3.8", ("python:3.8", "deprecated")),
    ("python:3.6", ("python:3.6", "unsupported")),
    ("golang", ("golang", "unsupported")),
])
def test_runtimes(runtime, expected):
    assert normalise_runtime(runtime) == expected
