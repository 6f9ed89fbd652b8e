"""`make mwaa-bundle`: what Amazon MWAA deploys, laid out as MWAA runs it.

MWAA syncs `dags/` from S3 to `$AIRFLOW_HOME/dags`, extracts `plugins.zip` into `$AIRFLOW_HOME/plugins` and
installs `requirements.txt`; nothing else of this repository is there. So the bundle puts the specs, SQL and
job scripts under `dags/dbmigrate_include/` (where `dbmigrate.paths` looks for them), keeps the DAG processor
out of that folder with `dags/.airflowignore`, ships the plugin package with the pure packages the jobs and
validators share (`transforms`, `connectors`) in plugins.zip, and pins requirements to MWAA's constraints.

    python -m devstack.mwaa_bundle --out dist/mwaa
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT.parent / "shared" / "mwaa" / "airflow-3.3.1-pins.txt"
CONSTRAINT = '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.1/constraints-3.12.txt"'
BUNDLED_INCLUDE = "dbmigrate_include"  # = dbmigrate.paths.BUNDLED_INCLUDE
# What of include/ the DAGs read at run time, by folder: the specs, the DDL, the job scripts staged for Spark.
INCLUDE_PARTS = {"specs": "*.yaml", "sql": "**/*", "jobs": "*.py"}
# plugins.zip, by top-level name: the plugin package and the pure packages it shares with the Spark jobs.
PLUGIN_PACKAGES = {"dbmigrate": ROOT / "plugins" / "dbmigrate", "transforms": ROOT / "include" / "transforms",
                   "connectors": ROOT / "include" / "connectors"}
# Valid as a glob ([core] dag_ignore_file_syntax's default) and as a regexp: either way the folder is skipped.
AIRFLOWIGNORE = f"{BUNDLED_INCLUDE}/\n"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same bytes on every build: uploads (and S3 object versions) comparable
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?P<extras>\[[^\]]*\])?\s*"
                          r"(?:==\s*(?P<version>[^\s;,#]+))?\s*(?P<rest>.*)$")


def _files(folder: Path, pattern: str = "**/*") -> list[Path]:
    """Files under `folder` matching `pattern`, sorted; no caches, no hidden files."""
    return sorted(p for p in folder.glob(pattern) if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo") and not p.name.startswith("."))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path = PINS) -> dict[str, str]:
    """MWAA's versions by normalized package name (from the image's constraints)."""
    out = {}
    for line in path.read_text().splitlines():
        m = _REQUIREMENT.match(line.split("#", 1)[0].strip())
        if m and m["version"]:
            out[_norm(m["name"])] = m["version"]
    return out


def requirements(source: Path = ROOT / "requirements.txt", pinned: dict[str, str] | None = None) -> list[str]:
    """requirements.txt for MWAA: the constraint line first, then each runtime requirement at MWAA's version.

    With `pinned` (MWAA's versions), each requirement is written at MWAA's version, and one MWAA's constraints
    do not list fails the build: MWAA could not install it, and the environment would not update. Without
    it, each requirement must carry its own `==` pin, which is kept.
    """
    lines, problems = [CONSTRAINT], []
    for raw in source.read_text().splitlines():
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        m = _REQUIREMENT.match(text)
        if not m or m["rest"] or text.startswith("-"):
            problems.append(f"{text}: not a plain `name[extras]==version` requirement")
            continue
        name, extras, version = m["name"], m["extras"] or "", m["version"]
        if pinned is not None:
            mwaa = pinned.get(_norm(name))
            if mwaa is None:
                problems.append(f"{text}: MWAA's constraints have no such package")
                continue
            if version and version != mwaa:
                print(f"note: {name} pinned to MWAA's {mwaa} (requirements.txt has {version})", file=sys.stderr)
            version = mwaa
        elif not version:
            problems.append(f"{text}: not pinned with == (and MWAA's pins are not available)")
            continue
        lines.append(f"{name}{extras}=={version}")
    if problems:
        raise SystemExit("requirements MWAA cannot install:\n  " + "\n  ".join(problems))
    return lines


def _write_zip(path: Path) -> int:
    entries = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for package, folder in PLUGIN_PACKAGES.items():
            for f in _files(folder):
                info = zipfile.ZipInfo(f"{package}/{f.relative_to(folder).as_posix()}", date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, f.read_bytes())
                entries += 1
    return entries


def build(out: Path, pins_file: Path = PINS) -> Path:
    """Write the bundle into `out` (emptied first) and return `out`.

    `out/dags/` (the DAG file, `dbmigrate_include/{specs,sql,jobs}`, `.airflowignore`), `out/plugins.zip`
    and `out/requirements.txt`. Without `pins_file` (MWAA's versions), requirements.txt's own pins are kept.
    """
    pinned = pins(pins_file) if pins_file.is_file() else None
    if pinned is None:
        print(f"note: {pins_file} not found; requirements.txt's own pins are used (they are MWAA's)",
              file=sys.stderr)
    reqs = requirements(pinned=pinned)  # before anything is written: a failed build leaves `out` as it was
    if out.exists():
        shutil.rmtree(out)
    dags = out / "dags"
    dags.mkdir(parents=True)
    shutil.copy2(ROOT / "dags" / "migrations.py", dags / "migrations.py")
    for part, pattern in INCLUDE_PARTS.items():
        source = ROOT / "include" / part
        for f in _files(source, pattern):
            target = dags / BUNDLED_INCLUDE / part / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    (dags / ".airflowignore").write_text(AIRFLOWIGNORE)  # the job scripts and specs are not DAG files
    _write_zip(out / "plugins.zip")
    (out / "requirements.txt").write_text("\n".join(reqs) + "\n")
    return out


def summary(out: Path) -> str:
    """One line on what a built bundle holds."""
    dag_files = [p for p in (out / "dags").rglob("*") if p.is_file()]
    with zipfile.ZipFile(out / "plugins.zip") as zf:
        entries = len(zf.namelist())
    reqs = (out / "requirements.txt").read_text().splitlines()[1:]
    return (f"MWAA bundle in {out}: dags/ ({len(dag_files)} files), plugins.zip ({entries} entries), "
            f"requirements.txt (constraint + {len(reqs)} requirements)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "mwaa")
    args = parser.parse_args(argv)
    print(summary(build(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
