"""The fields of a document that a spec maps nowhere: what stays for `_extra` once the mapped paths are taken.

Pure Python: the mapper (`transforms.adjacency`) keeps the remainder as json, and counts its paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from transforms.spec import EntitySpec


def mapped_paths(entity: EntitySpec) -> list[str]:
    """The paths an entity's row and child rows read (each consumes its whole subtree)."""
    return [*(c.source for c in entity.columns), *(r.source for r in entity.references),
            *(c.source for c in entity.children)]


def trie(paths: Iterable[str]) -> dict[str, Any]:
    """Dotted paths as nested dicts, `True` where a path ends (its whole subtree is consumed)."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if nxt is True:
                break
            node = nxt
        else:
            node[parts[-1]] = True
    return root


def remainder(value: dict[str, Any], trie: dict[str, Any]) -> dict[str, Any]:
    """`value` without what `trie` consumes: the fields no column, reference or child reads, nesting kept."""
    if not trie:
        return dict(value)
    out: dict[str, Any] = {}
    for key, v in value.items():
        sub = trie.get(key)
        if sub is None:
            out[key] = v
        elif sub is not True:
            if isinstance(v, dict):
                rest = remainder(v, sub)
                if rest:
                    out[key] = rest
            elif v is not None:
                out[key] = v
    return out
