"""core/server/jsonio.py: the strict reader refuses what JSON.parse cannot read back, the writer never emits it."""
import json
import math

import pytest

from core.server import jsonio
from serverproc import strict_json


@pytest.mark.parametrize("text,reason", [
    ("[" * 100_000, "nested too deeply"),
    ("[" * 101 + "]" * 101, "nested too deeply"),
    ('{"a": ' * 101 + "1" + "}" * 101, "nested too deeply"),
    ("[NaN]", "NaN"), ("[Infinity]", "Infinity"), ("[-Infinity]", "-Infinity"),
    ("[1e400]", "too large"), ("[-1e400]", "too large"),
    ("1" + "0" * 400, "too large"), ("-" + "9" * 21, "too large"), (str(2**64), "too large"),
    ("1" + "0" * 5000, "too large"),
    ("{'a': 1}", "not valid JSON"), (b"\xff\xfe", "not UTF-8"),
])
def test_the_reader_refuses_with_a_reason(text, reason):
    with pytest.raises(jsonio.BadJSON, match="^request body") as e:
        jsonio.loads(text)
    assert reason in str(e.value)


@pytest.mark.parametrize("text", ["[" * 100 + "]" * 100, str(2**64 - 1), str(-(2**64 - 1)), "1e308", "-0.0",
                                  '{"seed": 18446744073709551615}', '"[[[[["', "null"])
def test_the_reader_accepts_strict_json_up_to_the_limits(text):
    assert jsonio.loads(text) == json.loads(text)


def test_the_reader_names_what_it_read():
    with pytest.raises(jsonio.BadJSON, match="^websocket message: NaN"):
        jsonio.loads("NaN", "websocket message")


def test_the_writer_turns_non_finite_floats_into_null():
    value = {"a": math.nan, "b": [1.5, math.inf, (-math.inf,)], 3: object}
    out = strict_json(jsonio.dumps(value))
    assert out == {"a": None, "b": [1.5, None, [None]], "3": str(object)}


def test_the_writer_cuts_containers_nested_past_its_limit_instead_of_failing():
    deep = inner = []
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    out = strict_json(jsonio.dumps(deep))
    assert jsonio.depth(out) <= jsonio.MAX_DEPTH * 4


def test_the_writer_keeps_clean_values_as_json_dumps_writes_them():
    value = {"x": [1, 2.5, "é", None, True], "y": {"z": -3}}
    assert jsonio.dumps(value) == json.dumps(value)
