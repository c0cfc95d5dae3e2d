"""Theoretical predictions named in a study file (their verdicts: :mod:`samplelab.stats.verdict`).

A prediction is an arithmetic expression, e.g. ``"1"``, ``"0"`` or
``"2*beta/(2*beta + d)"``, whose names are bound to fields of the fitted series' run
config (``variables = {beta = "task.smoothness", d = "task.intrinsic_dim"}``). Only
numbers, names, + − × ÷, ** and parentheses are allowed; nothing is ``eval``-ed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def expression_names(expression: str) -> set[str]:
    """Names an expression uses; raises ``ValueError`` on anything but plain arithmetic."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ValueError(f"{expression!r} is not an arithmetic expression") from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif not isinstance(
            node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.Constant | ast.operator | ast.unaryop | ast.Load
        ):
            raise ValueError(f"{expression!r}: {type(node).__name__} is not allowed (numbers, names, + - * / ** only)")
        elif isinstance(node, ast.UnaryOp | ast.BinOp) and type(node.op) not in {**_UNARY, **_BINARY}:
            raise ValueError(f"{expression!r}: operator {type(node.op).__name__} is not allowed")
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError(f"{expression!r}: {node.value!r} is not a number")
    return names


def evaluate_expression(expression: str, values: Mapping[str, float]) -> float:
    """Value of an arithmetic expression with ``values`` bound to its names."""
    expression_names(expression)

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        return _BINARY[type(node.op)](walk(node.left), walk(node.right))

    return walk(ast.parse(expression, mode="eval"))
