"""What a Spark job run needs shipped with it, and how it is invoked on EMR and locally.

`build_bundle` zips the pure packages (`transforms`, `connectors`) for `--py-files` (EMR) or
`--extra-py-files` (Glue); `spark_submit_args` and `emr_step` produce the one command line both compute
profiles run, so local runs exercise exactly what EMR runs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from dbmigrate import paths

BUNDLE_PACKAGES = ("transforms", "connectors")
BUNDLE_NAME = "dbmigrate_jobs.zip"


def build_bundle(dest_dir: Path) -> Path:
    """Zip the packages jobs import; deterministic bytes (fixed timestamps) so uploads are comparable."""
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
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return out


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
