"""Name every value of a document by its path, the same way on the source side and the target side.

A leaf is a value that is not an object or an array (an Extended JSON wrapper kept as a dict, `{"$binary": …}`,
is a leaf too). Its path is the dotted field names leading to it with array positions folded to `[]`
(`items[].sku`) and keys that are data rather than names folded to `*` (`tiers.*.tier` for a map keyed by ids):
what a report can list, and what two sides can count and compare, however many elements or keys a document has.

Pure Python: used by the mapper (the unmapped fields it keeps), the discovery (maps keyed by data) and the value
conservation check (which walks the source and the target with it, never with the mapping).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

# Keys that are ids, not field names: ObjectId hex, 32-hex (md5, uuid without dashes), uuid, whole numbers.
ID_KEY = re.compile(r"^(?:[0-9a-fA-F]{24}|[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|\d+)$")
ARRAY = "[]"
DATA_KEY = "*"


def is_wrapper(value: Mapping[str, Any]) -> bool:
    """An Extended JSON wrapper kept as a dict (`$binary`, `$timestamp`, …): one value, not an object."""
    return len(value) >= 1 and all(str(k).startswith("$") for k in value)


def fold_key(key: str) -> str:
    """`*` for a key that is data (an id), else the key."""
    return DATA_KEY if ID_KEY.match(key) else key


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def leaves(value: Any, prefix: str = "", data_keys: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any]]:
    """(folded path, value) of every non-null leaf under `value`; `data_keys`: paths (folded) whose keys are
    data whatever they look like (a map the spec reads as a child table)."""
    if isinstance(value, Mapping) and not is_wrapper(value):
        every_key_data = prefix in data_keys
        for key, v in value.items():
            yield from leaves(v, join(prefix, DATA_KEY if every_key_data else fold_key(str(key))), data_keys)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, f"{prefix}{ARRAY}", data_keys)
    elif value is not None:
        yield prefix, value


def leaf_counts(value: Any, prefix: str = "", data_keys: frozenset[str] = frozenset()) -> Counter[str]:
    """How many non-null leaves each folded path holds under `value`."""
    return Counter(path for path, _ in leaves(value, prefix, data_keys))


def distinct_leaf_counts(value: Any, prefix: str = "", data_keys: frozenset[str] = frozenset()) -> Counter[str]:
    """Per folded path, the distinct leaf values under `value` (a document's array of ids with a repeated id
    names that id once: one link row)."""
    seen: dict[str, set[str]] = {}
    for path, v in leaves(value, prefix, data_keys):
        seen.setdefault(path, set()).add(f"{type(v).__name__}:{v}")
    return Counter({path: len(values) for path, values in seen.items()})
