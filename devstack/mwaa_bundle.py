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
INCLUDE_PARTS = ("specs", "sql", "jobs")
PLUGIN_PACKAGES = {"dbmigrate": ROOT / "plugins" / "dbmigrate", "transforms": ROOT / "include" / "transforms",
                   "connectors": ROOT / "include" / "connectors"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same bytes on every build: uploads (and S3 object versions) comparable
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;#]+)")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path = PINS) -> dict[str, str]:
    """MWAA's versions by normalized package name (from the image's constraints)."""
    out = {}
    for line in path.read_text().splitlines():
        m = _REQUIREMENT.match(line.strip())
        if m:
            out[_norm(m.group(1))] = m.group(3)
    return out


def requirements(source: Path = ROOT / "requirements.txt", pinned: dict[str, str] | None = None) -> list[str]:
    """requirements.txt for MWAA: the constraint line first, then each runtime requirement at MWAA's version.

    A requirement MWAA's constraints do not list, or list at another version, fails the build: MWAA could not
    install it, and the environment would not start.
    """
    lines, problems = [CONSTRAINT], []
    for raw in source.read_text().splitlines():
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        m = _REQUIREMENT.match(text)
        if not m:
            problems.append(f"{text}: not pinned with ==")
            continue
        name, version = _norm(m.group(1)), m.group(3)
        if pinned is not None and pinned.get(name) != version:
            problems.append(f"{text}: MWAA's constraints have {pinned.get(name, 'no such package')}")
        lines.append(text)
    if problems:
        raise SystemExit("requirements MWAA cannot install:\n  " + "\n  ".join(problems))
    return lines


def build(out: Path) -> dict[str, int]:
    """Write the bundle into `out` (emptied first); return what it holds."""
    if out.exists():
        shutil.rmtree(out)
    dags = out / "dags"
    include = dags / BUNDLED_INCLUDE
    dags.mkdir(parents=True)
    shutil.copy2(ROOT / "dags" / "migrations.py", dags / "migrations.py")
    for part in INCLUDE_PARTS:
        for f in _files(ROOT / "include" / part):
            target = include / part / f.relative_to(ROOT / "include" / part)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    # The DAG processor parses only migrations.py: the job scripts and specs are not DAG files.
    (dags / ".airflowignore").write_text(f"{BUNDLED_INCLUDE}/\n")
    entries = 0
    with zipfile.ZipFile(out / "plugins.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for package, folder in PLUGIN_PACKAGES.items():
            for f in _files(folder):
                info = zipfile.ZipInfo(f"{package}/{f.relative_to(folder).as_posix()}", date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, f.read_bytes())
                entries += 1
    pinned = pins() if PINS.exists() else None
    if pinned is None:
        print(f"note: {PINS} not found; requirements keep requirements.txt's own pins (MWAA's)", file=sys.stderr)
    (out / "requirements.txt").write_text("\n".join(requirements(pinned=pinned)) + "\n")
    return {"dag_files": len(_files(dags)), "plugins_zip_entries": entries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "mwaa")
    args = parser.parse_args(argv)
    summary = build(args.out)
    print(f"MWAA bundle in {args.out}: dags/ ({summary['dag_files']} files), plugins.zip "
          f"({summary['plugins_zip_entries']} entries), requirements.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
