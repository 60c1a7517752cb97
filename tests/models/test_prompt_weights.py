"""ComfyUI emphasis syntax (docs/comfy-api.md §7): (x) ×1.1 per level, (x:w) absolute, escapes, literal brackets."""
import pytest

from core.models.prompt import parse_weights


def weights_of(text):
    """{stripped segment: weight} for segments that are not only spaces/punctuation."""
    return {s.strip(): w for s, w in parse_weights(text) if s.strip(" ,")}


def test_plain_text_has_weight_one():
    assert parse_weights("a photo of a cat") == [("a photo of a cat", 1.0)]


def test_explicit_weight_sets_the_weight():
    assert weights_of("(a:1.5)") == {"a": 1.5}


def test_explicit_weight_inside_a_group_replaces_the_outer_factor():
    assert weights_of("((a:1.1))") == {"a": pytest.approx(1.1)}


def test_plain_group_inside_a_weighted_group_multiplies():
    assert weights_of("((a):1.1)") == {"a": pytest.approx(1.1 * 1.1)}


def test_weight_applies_to_all_text_of_its_group():
    assert weights_of("((a) b:0.5)") == {"a": pytest.approx(0.5 * 1.1), "b": pytest.approx(0.5)}


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_each_paren_level_multiplies_by_1_1(depth):
    text = "(" * depth + "word" + ")" * depth
    assert weights_of(text) == {"word": pytest.approx(1.1 ** depth)}


def test_last_colon_decides_the_weight():
    assert weights_of("(a:b:0.7)") == {"a:b": pytest.approx(0.7)}


def test_non_numeric_suffix_keeps_the_colon_and_the_1_1_factor():
    assert weights_of("(style:anime)") == {"style:anime": pytest.approx(1.1)}


def test_escaped_parentheses_are_literal_text_with_weight_one():
    assert parse_weights(r"\(escaped parens\) and") == [("(escaped parens) and", 1.0)]


def test_escapes_inside_a_weighted_group_stay_literal():
    assert weights_of(r"(smile \(happy\):1.3)") == {"smile (happy)": pytest.approx(1.3)}


def test_nested_weights_from_the_reference_prompt():
    text = r"\(escaped parens\) and (nested (weights:1.1):0.9)"
    assert weights_of(text) == {"(escaped parens) and": 1.0, "nested": pytest.approx(0.9), "weights": pytest.approx(1.1)}


def test_square_brackets_mean_nothing():
    assert weights_of("[worse quality]") == {"[worse quality]": 1.0}


def test_unclosed_paren_is_literal():
    assert parse_weights("a (b c") == [("a (b c", 1.0)]


def test_unopened_paren_is_literal_and_later_groups_still_work():
    assert weights_of("a) b (c)") == {"a) b": 1.0, "c": pytest.approx(1.1)}


def test_groups_inside_an_unclosed_paren_still_count():
    assert weights_of("(a (b) c") == {"(a": 1.0, "b": pytest.approx(1.1), "c": 1.0}


def test_break_and_and_are_plain_text():
    assert parse_weights("a cat BREAK a dog AND x") == [("a cat BREAK a dog AND x", 1.0)]


def test_segments_keep_their_order():
    segments = [s for s, _ in parse_weights("(masterpiece:1.2), (best quality), [worse quality], ((ultra detailed))")]
    assert "".join(segments) == "masterpiece, best quality, [worse quality], ultra detailed"


def test_empty_group_contributes_nothing():
    assert parse_weights("a () b") == [("a ", 1.0), (" b", 1.0)]
