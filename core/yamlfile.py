"""Load a YAML file into a pydantic model, with errors that name file, line and field.

Hostile YAML: only the safe loader is used, so ``!!python/...`` tags are an error
(naming the line), never executed. Aliases are shared, not copied, when loaded, but
anything that walks the result (validation, ``str()``) walks every path: a
"billion laughs" file of nine nested aliases is 10^9 nodes. So a document whose
aliases expand it beyond ``MAX_NODES`` is refused, naming the line, before it is
validated; so is an alias that contains itself.

Exceptions:
    ConfigError(ValueError) -- the file is unreadable, not YAML, or invalid;
        ``str()`` lists one ``file:line: field: message`` per problem.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    pass


MAX_NODES = 100_000  # expanded size of a document (a real config has hundreds)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _alias_bomb(root: yaml.Node, limit: int = MAX_NODES) -> yaml.Node | None:
    """The smallest node whose aliases expand it beyond ``limit`` nodes (or that
    contains itself), else None. Linear in the number of distinct nodes."""
    size: dict[int, int] = {}
    path: set[int] = set()  # the nodes being expanded: an alias back to one is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > limit:
                return node
            continue
        if key in size:
            continue
        path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in path:
                return child
            if id(child) not in size:
                stack.append((child, False))
    return None


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(v: Any) -> Any:
    if isinstance(v, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|[smhdw])\s*", v)):
        return float(m[1]) * _UNITS[m[2]]
    return v


# a duration in seconds: a number, or "500ms", "30s", "15m", "6h", "2d", "1w"
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def _field(loc: tuple, data: object) -> str:
    out, cur = "", data
    for part in loc:
        if isinstance(part, int):
            name = cur[part].get("name") if isinstance(cur, list) and isinstance(cur[part], dict) else None
            out += f"[{part}]" + (f"({name})" if name else "")
            cur = cur[part] if isinstance(cur, list) else None
        else:
            out += ("." if out else "") + str(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return out or "(top)"


def parse(text: str, model: type[M], source: str = "<string>") -> M:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    bomb = _alias_bomb(node) if node is not None else None
    if bomb is not None:
        raise ConfigError(
            f"{source}:{bomb.start_mark.line + 1}: aliases expand this to more than "
            f"{MAX_NODES} nodes, or into itself; write it out"
        )
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = _clean_loc(err["loc"], data)
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc += (str(err.get("ctx", {}).get("discriminator", "")).strip("'"),)
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            lines.append(f"{where}: {_field(loc, data)}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, model, str(path))


def _clean_loc(loc: tuple, data: object) -> tuple:
    """Drop the tags pydantic inserts for tagged unions: keys absent mid-path."""
    out, cur = [], data
    for i, part in enumerate(loc):
        if (
            isinstance(cur, dict)
            and isinstance(part, str)
            and part not in cur
            and (i < len(loc) - 1 or part in map(str, cur.values()))
        ):
            continue
        out.append(part)
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            cur = None
    return tuple(out)
