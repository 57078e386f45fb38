"""The house plan, checked: small functions, a small composer, no getattr on notifiers."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMITED = ("core", "streams", "alerts", "appwatch")  # the base layer, two stages, the application


def functions(package: str):
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(REPO), node


def length(node) -> int:
    return node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path}:{node.lineno} {node.name} ({length(node)} lines)"
        for package in LIMITED
        for path, node in functions(package)
        if length(node) > 80
    ]
    assert long == []


def test_the_worker_is_composed_in_under_60_lines():
    found = [
        node
        for path, node in functions("appwatch")
        if node.name == "create_app" and path == Path("appwatch/worker/__init__.py")
    ]
    assert len(found) == 1 and length(found[0]) < 60, [length(n) for n in found]


def test_alerts_never_getattr_a_notifier_or_its_error():
    calls = [
        f"{path}:{node.lineno}"
        for path, fn in functions("alerts")
        for node in ast.walk(fn)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) in ("getattr", "hasattr")
        # the config's own fields, by name: not a notifier
        and not (path == Path("alerts/config.py") and isinstance(node.args[0], ast.Name) and node.args[0].id == "self")
    ]
    assert calls == []
