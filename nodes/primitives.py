"""Primitive value nodes (ComfyUI's utils/primitive): a widget whose value is the node's output.

Modern templates wire these into subgraph inputs instead of the legacy UI-only PrimitiveNode; unlike
that one they run on the server, so their value shows up in the prompt and the cache key.
"""
from __future__ import annotations

import sys

from core.execution.spec import Boolean, Float, Int, Node, Output, String

CATEGORY = "utils/primitive"


class PrimitiveString(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "String"
    INPUTS = (String("value"),)
    OUTPUTS = (Output("STRING"),)

    def execute(self, value):
        return (value,)


class PrimitiveStringMultiline(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "String (Multiline)"
    INPUTS = (String("value", multiline=True),)
    OUTPUTS = (Output("STRING"),)

    def execute(self, value):
        return (value,)


class PrimitiveInt(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Int"
    # The full machine range, as ComfyUI declares it; a seed-style control widget follows the value.
    INPUTS = (Int("value", min=-sys.maxsize, max=sys.maxsize, control_after_generate=True),)
    OUTPUTS = (Output("INT"),)

    def execute(self, value):
        return (int(value),)


class PrimitiveFloat(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Float"
    INPUTS = (Float("value", min=-sys.maxsize, max=sys.maxsize),)
    OUTPUTS = (Output("FLOAT"),)

    def execute(self, value):
        return (float(value),)


class PrimitiveBoolean(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = CATEGORY
    DISPLAY_NAME = "Boolean"
    INPUTS = (Boolean("value"),)
    OUTPUTS = (Output("BOOLEAN"),)

    def execute(self, value):
        return (bool(value),)


NODES = [PrimitiveString, PrimitiveStringMultiline, PrimitiveInt, PrimitiveFloat, PrimitiveBoolean]
