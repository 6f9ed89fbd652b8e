"""What a Spark job run needs shipped with it, and how it is invoked on EMR and locally.

`build_bundle` zips the pure packages (`transforms`, `connectors`) for `--py-files` (EMR) or
`--extra-py-files` (Glue); `spark_submit_args` and `emr_step` produce the one command line both compute
profiles run, so local runs exercise exactly what EMR runs.
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Sequence
from pathlib import Path

from dbmigrate import paths

BUNDLE_PACKAGES = ("transforms", "connectors")
BUNDLE_NAME = "dbmigrate_jobs.zip"


def build_bundle(dest_dir: Path) -> Path:
    """Zip the packages jobs import; deterministic bytes (fixed timestamps) so uploads are comparable.

    Each module goes in as source and as bytecode of this Python (`compiled`): Python imports nothing from a zip
    archive without compiling it in every process, the job's driver and each of its Python workers. A Python of
    another version (EMR's) finds the bytecode's magic number foreign and compiles the source, as before.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / BUNDLE_NAME
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in BUNDLE_PACKAGES:
            root = paths.package_dir(package)
            files = sorted(root.rglob("*.py"))
            if not files:
                raise FileNotFoundError(f"package {package} has no Python files at {root}")
            for path in files:
                name = f"{package}/{path.relative_to(root).as_posix()}"
                source = path.read_bytes()
                for entry, data in ((name, source), (name + "c", compiled(source, name))):
                    info = zipfile.ZipInfo(entry, date_time=(2020, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, data)
    return out


def compiled(source: bytes, name: str) -> bytes:
    """`source` as a `.pyc` checked by the source's hash (PEP 552): a zip's timestamps are local times, a hash is
    not, and an importer whose source differs compiles the source instead."""
    from importlib._bootstrap_external import _code_to_hash_pyc  # what py_compile writes, as bytes

    code = compile(source, name, "exec", dont_inherit=True)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=True))


def spark_submit_args(*, script: str, py_files: str, job_args: Sequence[str], packages: Sequence[str] = (),
                      master: str | None = None, conf: dict[str, str] | None = None) -> list[str]:
    """`spark-submit` arguments (without the program name) for one job run."""
    args: list[str] = []
    if master:
        args += ["--master", master]
    if packages:
        args += ["--packages", ",".join(packages)]
    for key, value in sorted((conf or {}).items()):
        args += ["--conf", f"{key}={value}"]
    return [*args, "--py-files", py_files, script, *job_args]


def emr_step(name: str, submit_args: Sequence[str], action_on_failure: str = "CONTINUE") -> dict:
    """An EMR step running spark-submit through command-runner.jar (cluster deploy mode)."""
    return {
        "Name": name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar",
                          "Args": ["spark-submit", "--deploy-mode", "cluster", *submit_args]},
    }
