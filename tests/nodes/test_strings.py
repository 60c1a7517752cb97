"""String nodes behave as ComfyUI's utils/string nodes: same inputs, same results."""
import pytest

from nodes import strings


def run(cls, **kw):
    return cls().execute(**kw)


def test_concatenate_puts_the_delimiter_between_the_two_strings():
    assert run(strings.StringConcatenate, string_a="a cat", string_b="on a mat", delimiter=", ") == ("a cat, on a mat",)


def test_substring_uses_python_slice_bounds():
    assert run(strings.StringSubstring, string="latentflow", start=-4, end=10) == ("flow",)


def test_length_counts_characters():
    assert run(strings.StringLength, string="héllo") == (5,)


@pytest.mark.parametrize("mode, expected", [("UPPERCASE", "A CAT IS HERE"), ("lowercase", "a cat is here"),
                                            ("Capitalize", "A cat is here"), ("Title Case", "A Cat Is Here")])
def test_case_converter_modes(mode, expected):
    assert run(strings.CaseConverter, string="a cAt is here", mode=mode) == (expected,)


@pytest.mark.parametrize("mode, expected", [("Both", "x y"), ("Left", "x y  "), ("Right", "  x y")])
def test_trim_modes(mode, expected):
    assert run(strings.StringTrim, string="  x y  ", mode=mode) == (expected,)


def test_replace_replaces_every_occurrence_literally():
    assert run(strings.StringReplace, string="a.b.c", find=".", replace="-") == ("a-b-c",)


def test_contains_honours_case_sensitivity():
    assert run(strings.StringContains, string="Red Fox", substring="fox", case_sensitive=True) == (False,)
    assert run(strings.StringContains, string="Red Fox", substring="fox", case_sensitive=False) == (True,)


@pytest.mark.parametrize("mode, expected", [("Starts With", True), ("Ends With", False), ("Equal", False)])
def test_compare_modes(mode, expected):
    assert run(strings.StringCompare, string_a="Sunset sky", string_b="sun", mode=mode,
               case_sensitive=False) == (expected,)


def test_regex_match_is_case_insensitive_by_default_and_false_for_a_bad_pattern():
    assert run(strings.RegexMatch, string="A Cat", regex_pattern="cat") == (True,)
    assert run(strings.RegexMatch, string="A Cat", regex_pattern="(") == (False,)


def test_regex_extract_modes():
    text = "w=512 h=768\nw=64 h=32"
    assert run(strings.RegexExtract, string=text, regex_pattern=r"w=(\d+)", mode="First Match") == ("w=512",)
    assert run(strings.RegexExtract, string=text, regex_pattern=r"w=(\d+)", mode="All Matches") == ("512\n64",)
    assert run(strings.RegexExtract, string=text, regex_pattern=r"(w)=(\d+)", mode="First Group",
               group_index=2) == ("512",)
    assert run(strings.RegexExtract, string=text, regex_pattern=r"h=(\d+)", mode="All Groups") == ("768\n32",)
    assert run(strings.RegexExtract, string=text, regex_pattern=r"w=\d+", mode="First Group") == ("",)


def test_regex_replace_counts_and_flags():
    assert run(strings.RegexReplace, string="a1 A2 a3", regex_pattern=r"a\d", replace="x") == ("x x x",)
    assert run(strings.RegexReplace, string="a1 A2 a3", regex_pattern=r"a\d", replace="x", count=1) == ("x A2 a3",)
    assert run(strings.RegexReplace, string="a1 A2", regex_pattern=r"a(\d)", replace=r"<\1>",
               case_insensitive=False) == ("<1> A2",)


def test_regex_replace_names_a_bad_pattern():
    with pytest.raises(ValueError, match="RegexReplace, input 'regex_pattern'"):
        run(strings.RegexReplace, string="x", regex_pattern="(", replace="")


def test_interfaces_match_comfyui_input_order():
    assert list(strings.RegexReplace.INPUT_TYPES()["required"]) == ["string", "regex_pattern", "replace"]
    assert list(strings.RegexReplace.INPUT_TYPES()["optional"]) == ["case_insensitive", "multiline", "dotall", "count"]
    assert list(strings.StringConcatenate.INPUT_TYPES()["required"]) == ["string_a", "string_b", "delimiter"]


def test_json_extract_string_returns_text_or_json_of_a_top_level_key():
    doc = '{"Default": {"num_steps": 48, "mu": 0.0}, "name": "turbo"}'
    assert run(strings.JsonExtractString, json_string=doc, key="name") == ("turbo",)
    inner = run(strings.JsonExtractString, json_string=doc, key="Default")[0]
    assert run(strings.JsonExtractString, json_string=inner, key="num_steps") == ("48",)
    assert run(strings.JsonExtractString, json_string=doc, key="missing") == ("",)


def test_json_extract_string_names_bad_json():
    with pytest.raises(ValueError, match="JsonExtractString, input 'json_string'"):
        run(strings.JsonExtractString, json_string="{nope", key="a")
