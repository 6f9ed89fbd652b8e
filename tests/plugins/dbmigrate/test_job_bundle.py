"""The job bundle: every module as source and as this Python's bytecode, imported from the bytecode here and from
the source by a Python the bytecode does not fit (EMR's)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from dbmigrate.job_bundle import build_bundle

IMPORT = ("import importlib, sys; m = importlib.import_module(sys.argv[1]); "
          "print(m.__loader__.get_code(sys.argv[1]).co_filename)")


def _code_file(bundle: Path, module: str) -> str:
    """Where the code `module` ran from says what was imported: the name compiled in (`transforms/x.py`) for the
    bundle's bytecode, the archive's path for source the importer compiled."""
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(bundle)!r}); {IMPORT}",
                          module], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_each_module_is_in_the_bundle_as_source_and_bytecode(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(build_bundle(tmp_path)).namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert sources and {n + "c" for n in sources} == names - sources
    assert build_bundle(tmp_path / "again").read_bytes() == (tmp_path / "dbmigrate_jobs.zip").read_bytes()


def test_a_python_imports_the_bytecode_and_one_it_does_not_fit_the_source(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path)
    assert _code_file(bundle, "transforms.adjacency") == "transforms/adjacency.py"
    foreign = tmp_path / "foreign.zip"  # each .pyc with another Python's magic number
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(foreign, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, b"\x00\x00\r\n" + data[4:] if info.filename.endswith(".pyc") else data)
    assert _code_file(foreign, "transforms.adjacency") == f"{foreign}/transforms/adjacency.py"
