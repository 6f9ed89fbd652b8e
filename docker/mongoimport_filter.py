"""Keep the lines of a mongoexport file that MongoDB can store: `python mongoimport_filter.py IN OUT`.

A line is kept when it parses as Extended JSON (pymongo's `bson.json_util`) into a document. Left out: lines
that are not JSON objects, and documents whose Extended JSON is invalid (`{"$date": "1999-13-45"}`, a bad
`$oid` or `$numberDecimal`): mongoimport stops at them, and a collection cannot hold them. The movie
migration still meets those in the export file itself, which stays the DAG's default local source.
Prints `{"kept": N, "left_out": M}`.
"""

from __future__ import annotations

import json
import sys

from bson import json_util


def storable(line: str) -> bool:
    try:
        return isinstance(json_util.loads(line), dict)
    except Exception:  # noqa: BLE001 - json_util raises ValueError, InvalidId, decimal errors, ...
        return False


def main(src: str, dst: str) -> dict[str, int]:
    kept = left_out = 0
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            if storable(line):
                out.write(line if line.endswith("\n") else line + "\n")
                kept += 1
            else:
                left_out += 1
    return {"kept": kept, "left_out": left_out}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
