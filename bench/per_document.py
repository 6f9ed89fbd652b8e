"""Where a document's time goes, per document, on one core: what the Spark stages of the job are made of."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path
from typing import Any

from bench.common import SPEC


def measure(source: Path, documents: int = 20_000) -> dict[str, float]:
    """µs per document of each step the job's first stage runs, over the first `documents` of `source`."""
    from transforms.adjacency import DocumentMapper, Mapped
    from transforms.row_tuples import RowTuples
    from transforms.spec import load_spec
    from transforms.winners import item

    spec = load_spec(SPEC)
    mapper, rows = DocumentMapper.for_spec(spec), RowTuples(spec.entities)
    with source.open(encoding="utf-8") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(documents), f, strict=False)]
    n = len(lines)

    def per_doc(fn: Any) -> float:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) / n * 1e6

    mapped: list[Any] = []
    out = {"json.loads (what any reader pays)": per_doc(lambda: [json.loads(x) for x in lines]),
           "map_line (Extended JSON, keys, types, sizes, UUIDv5)": per_doc(
               lambda: mapped.extend(mapper.map_line(x) for x in lines))}
    items = [((m.entity, m.key), item(m, text, None, True, rows)) for m, text in zip(mapped, lines, strict=True)
             if isinstance(m, Mapped)]  # as the job carries them: each row a tuple of its values
    blob = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    out["pickle + unpickle of the mapped item (each shuffle and pass)"] = per_doc(
        lambda: pickle.loads(pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)))
    out["bytes per mapped item in the shuffle"] = len(blob) / n
    return out
