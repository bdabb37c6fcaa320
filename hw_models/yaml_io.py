"""The one way stamp-sim reads a YAML file: ``yaml.safe_load`` behind limits.

Every YAML file (profiles, configs lists, mixed allocations) goes through
``load_yaml``, which refuses, with one line naming the file:

- files over ``MAX_BYTES`` or not UTF-8;
- nesting deeper than ``MAX_DEPTH`` (checked on the parser's events, before the
  recursive composer could run out of stack);
- more than ``MAX_ALIASES`` aliases, recursive aliases, or a document whose aliases
  expand to more than ``MAX_NODES`` nodes (the "billion laughs" pattern: the expanded
  size is counted on the composed node graph, before any Python object is built);
- mapping keys that are lists or mappings (unhashable), and keys repeated in a mapping.

Error texts quote the file's values through ``short_repr`` (at most 60 characters) and
name lines and columns rather than echoing the file's lines.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "key_text", "load_yaml", "loads_yaml", "short_repr"]

MAX_BYTES = 1 << 20  # 1 MiB: the largest built-in profile is ~3 KB, a big allocation ~100 KB
MAX_DEPTH = 32  # the deepest real document (mixed: layers -> config -> accumulator) is 4
MAX_ALIASES = 1000
MAX_NODES = 200_000  # after alias expansion; a 30-block mixed allocation is a few thousand


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to `limit` characters (``...`` marks the cut).

    Safe on huge or deeply nested values: long containers are summarised before repr
    expands them.

    >>> short_repr("x" * 100)[-6:]
    'xxx...'
    >>> short_repr(list(range(100)))
    '<list of 100 items>'
    """
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_text(key: object, limit: int = 60) -> str:
    """A mapping key of the user's file for an error: plain when it is short printable text,
    else ``short_repr`` (so a control character or a newline never splits an error line).

    >>> key_text("dram_gbp"), key_text(5)
    ('dram_gbp', '5')
    >>> key_text("a\\nb") == repr("a\\nb")
    True
    """
    if isinstance(key, str) and key.isprintable() and len(key) <= limit:
        return key
    return short_repr(key, limit)


class _Loader(yaml.SafeLoader):
    """SafeLoader that records repeated keys instead of silently keeping the last."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(f"key {short_repr(key)} repeated at line {line} (first at line {seen[key]})")
            else:
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _where(exc: yaml.YAMLError) -> str:
    """The parser's complaint and its line/column, without the file's text around it."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{str(problem)[:80]}{at}"


def _check_events(text: str, name: str, error: type[Exception]) -> None:
    """Depth and alias count from the event stream (iterative: no recursion to exhaust)."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1
                raise error(f"{name}: nested deeper than {MAX_DEPTH} levels at line {line}; "
                            f"allowed: at most {MAX_DEPTH}")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(f"{name}: more than {MAX_ALIASES} aliases (*name); allowed: at most {MAX_ALIASES}")


def _children(node) -> list:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_graph(root, name: str, error: type[Exception]) -> None:
    """Expanded node count (aliases counted as often as they are used), cycles, key kinds."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        ident = id(node)
        if done:
            on_path.discard(ident)
            size[ident] = 1 + sum(size[id(c)] for c in _children(node))
            if size[ident] > MAX_NODES:
                raise error(f"{name}: its aliases expand to more than {MAX_NODES} values; allowed: at most "
                            f"{MAX_NODES} (repeated nested aliases, the 'billion laughs' pattern, are refused)")
            continue
        if ident in size:
            continue
        if ident in on_path:
            raise error(f"{name}: recursive alias at line {node.start_mark.line + 1}; allowed: aliases to "
                        "values defined before them, never to an enclosing value")
        if isinstance(node, MappingNode):
            for key, _ in node.value:
                if not isinstance(key, ScalarNode):
                    kind = "list" if isinstance(key, SequenceNode) else "mapping"
                    raise error(f"{name}: a {kind} used as a mapping key at line {key.start_mark.line + 1}; "
                                "allowed: a plain key (text or number)")
        on_path.add(ident)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _construct(loader: _Loader, node, name: str, error: type[Exception]) -> object:
    try:
        return loader.construct_document(node)
    except (ValueError, TypeError, OverflowError) as exc:
        # e.g. a timestamp like 2024-13-40 that the constructor cannot build
        raise error(f"{name}: not valid YAML (a value cannot be read: {str(exc)[:80]})") from None


def loads_yaml(text: str, name: str, error: type[Exception] = ValueError) -> object:
    """The YAML document in `text` (`name` labels errors), or `error` naming what is wrong."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise error(f"{name}: larger than {MAX_BYTES} bytes; allowed: at most {MAX_BYTES} bytes")
    try:
        _check_events(text, name, error)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_graph(node, name, error)
            data = _construct(loader, node, name, error)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise error(f"{name}: not valid YAML ({_where(exc)})") from None
    if loader.duplicates:
        raise error(f"{name}: duplicate keys; allowed: each key once per mapping:\n  - "
                    + "\n  - ".join(loader.duplicates))
    return data


def load_yaml(path: str | Path, what: str = "YAML file", error: type[Exception] = ValueError) -> object:
    """The YAML document in the file at `path`, read through the limits above.

    what : names the file's role in errors ("profile", "configs file").
    error : the exception class raised (a ValueError subclass), one line naming the path.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{path}: {what} is {size} bytes; allowed: at most {MAX_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start}); allowed: a UTF-8 YAML file") from None
    return loads_yaml(text, str(path), error)
