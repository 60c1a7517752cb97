"""Logic and math nodes of ComfyUI's current core: Switch (lazy), Custom Combo, Number Convert and
Math Expression. Names, inputs and outputs are ComfyUI's; the expression evaluator is our own, over a
whitelist of Python syntax (no attribute access, no names beyond the inputs and the math functions).
"""
from __future__ import annotations

import ast
import math
import operator
import string

from core.execution.spec import Boolean, Combo, In, Node, Output, String

ANY = "*"


class ComfySwitchNode(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "logic"
    DISPLAY_NAME = "Switch"
    DESCRIPTION = "Routes one of two inputs to the output; only the selected branch is evaluated."
    INPUTS = (Boolean("switch"), In(ANY, "on_false", lazy=True), In(ANY, "on_true", lazy=True))
    OUTPUTS = (Output(ANY, "output"),)

    def check_lazy_status(self, switch, on_false=None, on_true=None):
        # Unevaluated lazy inputs arrive as None: ask only for the branch the switch selects.
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def execute(self, switch, on_false=None, on_true=None):
        return (on_true if switch else on_false,)


class CustomCombo(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "utils"
    DISPLAY_NAME = "Custom Combo"
    DESCRIPTION = "A dropdown whose options the user writes; outputs the chosen text and its index."
    # The options live in the frontend (its extra widgets hold them), so any choice is accepted.
    INPUTS = (Combo("choice", choices=[]),)
    OUTPUTS = (Output("STRING", "STRING"), Output("INT", "INDEX"))

    @classmethod
    def VALIDATE_INPUTS(cls, choice=None, **kwargs):
        return True

    def execute(self, choice, index=0, **kwargs):
        return (choice, int(index))


class ComfyNumberConvert(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "math"
    DISPLAY_NAME = "Number Convert"
    INPUTS = (In("INT,FLOAT,STRING,BOOLEAN", "value"),)
    OUTPUTS = (Output("FLOAT", "FLOAT"), Output("INT", "INT"))

    def execute(self, value):
        if isinstance(value, str):
            text = value.strip()
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"ComfyNumberConvert, input 'value': {value!r} is not a number") from None
        else:
            number = float(value)  # bool, int and float alike
        if not math.isfinite(number):
            raise ValueError(f"ComfyNumberConvert, input 'value': {value!r} is not a finite number")
        return (number, int(number))


# --- Math Expression -------------------------------------------------------------------------------
MAX_EXPONENT = 10_000


def _power(base, exp):
    if abs(exp) > MAX_EXPONENT:
        raise ValueError(f"exponent {exp} is larger than {MAX_EXPONENT}")
    return operator.pow(base, exp)


def _sum(*args):
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return sum(items)


FUNCTIONS = {"sum": _sum, "min": min, "max": max, "abs": abs, "round": round, "pow": _power, "sqrt": math.sqrt,
             "ceil": math.ceil, "floor": math.floor, "log": math.log, "log2": math.log2, "log10": math.log10,
             "sin": math.sin, "cos": math.cos, "tan": math.tan, "int": int, "float": float}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge}


def evaluate(expression: str, names: dict):
    """Value of an arithmetic ``expression`` over ``names`` and :data:`FUNCTIONS`."""
    tree = ast.parse(expression.strip(), mode="eval")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            raise ValueError(f"unknown name {node.id!r} (inputs: {', '.join(sorted(names)) or 'none'})")
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            return BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                if type(op) not in COMPARE or not COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
                and not node.keywords:
            return FUNCTIONS[node.func.id](*[ev(a) for a in node.args])
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        raise ValueError(f"{ast.unparse(node)!r} is not allowed in a math expression")

    return ev(tree)


VALUE_NAMES = list(string.ascii_lowercase)


class ComfyMathExpression(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "logic"
    DISPLAY_NAME = "Math Expression"
    DESCRIPTION = ("Evaluates an arithmetic expression over the inputs a, b, c, ... (and the list 'values'); "
                   "functions: " + ", ".join(FUNCTIONS) + ".")
    # ComfyUI grows the value sockets on demand (an Autogrow input named "values"); they arrive as
    # "values.a", "values.b", ... in the prompt, which is what these optional sockets are called.
    INPUTS = (String("expression", default="a + b", multiline=True),
              *(In("FLOAT,INT,BOOLEAN", f"values.{n}", optional=True) for n in VALUE_NAMES))
    OUTPUTS = (Output("FLOAT", "FLOAT"), Output("INT", "INT"), Output("BOOLEAN", "BOOL"))

    def execute(self, expression, **values):
        if not expression.strip():
            raise ValueError("ComfyMathExpression, input 'expression': the expression is empty")
        names = {k.removeprefix("values."): v for k, v in values.items() if v is not None}
        names["values"] = [names[n] for n in VALUE_NAMES if n in names]
        try:
            result = evaluate(expression, names)
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as e:
            raise ValueError(f"ComfyMathExpression, input 'expression': {expression!r}: {e}") from e
        if isinstance(result, bool):
            result = int(result)
        if not isinstance(result, (int, float)) or not math.isfinite(result):
            raise ValueError(f"ComfyMathExpression, input 'expression': {expression!r} gave {result!r}, not a number")
        return (float(result), int(result), bool(result))


NODES = [ComfySwitchNode, CustomCombo, ComfyNumberConvert, ComfyMathExpression]
