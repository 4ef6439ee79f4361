"""YAML with line numbers: every mapping remembers the line of each key and value, so a check can
name ``FILE:LINE``; a syntax error or a duplicate key is already an :class:`InventoryError`."""

from __future__ import annotations

from typing import Any

import yaml

from rig.inventory.errors import InventoryError


class Located(dict):
    """A YAML mapping that remembers the line of every key (``key_line``) and of itself (``line``)."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.key_line(key))


class LocatedList(list):
    line: int = 0
    item_lines: list[int]


def _make_loader(source: str) -> type[yaml.SafeLoader]:
    class _Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Located:
        loader.flatten_mapping(node)
        result = Located()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise InventoryError(source, key_node.start_mark.line + 1, str(key),
                                     f"duplicate key (first at line {result.key_lines[key]})")
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
            result.value_lines[key] = value_node.start_mark.line + 1
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return _Loader


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML keeping line numbers; a syntax error becomes an InventoryError at its line."""
    try:
        return yaml.load(text, Loader=_make_loader(source))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(source, mark.line + 1 if mark else 0, "",
                             f"not valid YAML: {exc.problem or exc}") from None
