"""A pure-Python node pack in ComfyUI's classic interface, used by the executor and CLI tests.

It is loaded the way third-party packs are (NODE_CLASS_MAPPINGS), and counts how often each node
function runs so tests can assert exact cache hits and misses.
"""
from collections import Counter

from .nodes import (Add, AlwaysChanged, Concat, Const, Fail, FloatConst, LazySwitch, ListOf, Output, Slow,
                    SumList, Text, Unique)

CALLS = Counter()

NODE_CLASS_MAPPINGS = {
    "TestConst": Const, "TestFloat": FloatConst, "TestAdd": Add, "TestConcat": Concat,
    "TestOutput": Output, "TestFail": Fail, "TestSlow": Slow, "TestLazySwitch": LazySwitch,
    "TestListOf": ListOf, "TestSumList": SumList, "TestText": Text, "TestAlwaysChanged": AlwaysChanged,
    "TestUnique": Unique,
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestConst": "Constant (test)"}
