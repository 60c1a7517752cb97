"""Text nodes (ComfyUI's utils/string): concatenate, substring, replace, compare and regular expressions.

Names, inputs and outputs are ComfyUI's, so workflows that build prompts from pieces run unchanged.
"""
from __future__ import annotations

import logging
import re

from core.execution.spec import Boolean, Combo, Int, Node, Output, String

log = logging.getLogger(__name__)
CATEGORY = "utils/string"


def _text(name, **kw) -> String:
    return String(name, multiline=True, **kw)


def _flags(case_insensitive: bool, multiline: bool, dotall: bool) -> int:
    return ((re.IGNORECASE if case_insensitive else 0) | (re.MULTILINE if multiline else 0)
            | (re.DOTALL if dotall else 0))


class StringConcatenate(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Concatenate"
    INPUTS = (_text("string_a"), _text("string_b"), String("delimiter", default=""))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string_a, string_b, delimiter=""):
        return (f"{string_a}{delimiter}{string_b}",)


class StringSubstring(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Substring"
    INPUTS = (_text("string"), Int("start"), Int("end"))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, start, end):
        return (string[start:end],)  # Python slice semantics: negative indices count from the end


class StringLength(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Length"
    INPUTS = (_text("string"),)
    OUTPUTS = (Output("INT", "length"),)

    def execute(self, string):
        return (len(string),)


CASES = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize, "Title Case": str.title}


class CaseConverter(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Case Converter"
    INPUTS = (_text("string"), Combo("mode", choices=list(CASES)))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, mode):
        return (CASES[mode](string),)


TRIMS = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}


class StringTrim(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Trim"
    INPUTS = (_text("string"), Combo("mode", choices=list(TRIMS)))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, mode):
        return (TRIMS[mode](string),)


class StringReplace(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Replace"
    INPUTS = (_text("string"), _text("find"), _text("replace"))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, find, replace):
        return (string.replace(find, replace),)


class StringContains(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Contains"
    INPUTS = (_text("string"), _text("substring"), Boolean("case_sensitive", default=True))
    OUTPUTS = (Output("BOOLEAN", "contains"),)

    def execute(self, string, substring, case_sensitive=True):
        if not case_sensitive:
            string, substring = string.lower(), substring.lower()
        return (substring in string,)


class StringCompare(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Compare"
    INPUTS = (_text("string_a"), _text("string_b"), Combo("mode", choices=["Starts With", "Ends With", "Equal"]),
              Boolean("case_sensitive", default=True))
    OUTPUTS = (Output("BOOLEAN"),)

    def execute(self, string_a, string_b, mode, case_sensitive=True):
        if not case_sensitive:
            string_a, string_b = string_a.lower(), string_b.lower()
        test = {"Starts With": str.startswith, "Ends With": str.endswith, "Equal": str.__eq__}[mode]
        return (test(string_a, string_b),)


def _regex_options(optional: bool = False) -> tuple:
    return (Boolean("case_insensitive", default=True, optional=optional),
            Boolean("multiline", default=False, optional=optional),
            Boolean("dotall", default=False, optional=optional))


class RegexMatch(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Regex Match"
    INPUTS = (_text("string"), _text("regex_pattern"), *_regex_options())
    OUTPUTS = (Output("BOOLEAN", "matches"),)

    def execute(self, string, regex_pattern, case_insensitive=True, multiline=False, dotall=False):
        try:
            found = re.search(regex_pattern, string, _flags(case_insensitive, multiline, dotall))
        except re.error as e:
            # ComfyUI answers "no match" for a bad pattern; say why in the log instead of staying silent.
            log.warning("RegexMatch: invalid pattern %r (%s); treated as no match", regex_pattern, e)
            return (False,)
        return (found is not None,)


EXTRACT_MODES = ["First Match", "All Matches", "First Group", "All Groups"]


class RegexExtract(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Regex Extract"
    INPUTS = (_text("string"), _text("regex_pattern"), Combo("mode", choices=EXTRACT_MODES), *_regex_options(),
              Int("group_index", default=1, min=0, max=100))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, regex_pattern, mode, case_insensitive=True, multiline=False, dotall=False,
                group_index=1):
        try:
            pattern = re.compile(regex_pattern, _flags(case_insensitive, multiline, dotall))
        except re.error as e:
            log.warning("RegexExtract: invalid pattern %r (%s); result is empty", regex_pattern, e)
            return ("",)
        if mode == "First Match":
            match = pattern.search(string)
            return (match.group(0) if match else "",)
        if mode == "All Matches":
            # With groups in the pattern ComfyUI keeps each match's first group, as re.findall gives them.
            found = pattern.findall(string)
            return ("\n".join(m[0] if isinstance(m, tuple) else m for m in found),)
        if mode == "First Group":
            match = pattern.search(string)
            ok = match is not None and len(match.groups()) >= group_index
            return (match.group(group_index) or "" if ok else "",)
        groups = [m.group(group_index) or "" for m in pattern.finditer(string)
                  if m.groups() and len(m.groups()) >= group_index]
        return ("\n".join(groups),)


class RegexReplace(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Regex Replace"
    DESCRIPTION = "Find and replace text using regex patterns."
    INPUTS = (_text("string"), _text("regex_pattern"), _text("replace"), *_regex_options(optional=True),
              Int("count", default=0, min=0, max=100, optional=True,
                  tooltip="Maximum number of replacements; 0 replaces every match."))
    OUTPUTS = (Output("STRING"),)

    def execute(self, string, regex_pattern, replace, case_insensitive=True, multiline=False, dotall=False, count=0):
        try:
            pattern = re.compile(regex_pattern, _flags(case_insensitive, multiline, dotall))
        except re.error as e:
            raise ValueError(f"RegexReplace, input 'regex_pattern': {regex_pattern!r} is not a valid "
                             f"regular expression ({e})") from e
        return (pattern.sub(replace, string, count=count),)


class JsonExtractString(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Extract String from JSON"
    DESCRIPTION = "The value of a top-level key of a JSON object: text as it is, anything else as JSON."
    INPUTS = (_text("json_string"), String("key", default=""))
    OUTPUTS = (Output("STRING"),)

    def execute(self, json_string, key):
        import json

        try:
            data = json.loads(json_string) if json_string.strip() else {}
        except json.JSONDecodeError as e:
            raise ValueError(f"JsonExtractString, input 'json_string': not valid JSON ({e})") from e
        if not isinstance(data, dict) or key not in data:
            log.warning("JsonExtractString: key %r not found; the result is empty", key)
            return ("",)
        value = data[key]
        return (value if isinstance(value, str) else json.dumps(value),)


NODES = [JsonExtractString, StringConcatenate, StringSubstring, StringLength, CaseConverter, StringTrim, StringReplace,
         StringContains, StringCompare, RegexMatch, RegexExtract, RegexReplace]
