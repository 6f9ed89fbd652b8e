"""The MWAA bundle, unpacked as MWAA does it (dags/ synced, plugins.zip extracted, no include/, no pyspark):
DAGs and plugins load without errors, and a migration runs from that layout and passes its validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from devstack import mwaa_bundle
from generators.movie_collection import write

DAG_ID = "movie_collection_to_dsql"
BLOCKED = ("pyspark", "py4j", "awsglue")

# Imported first by every Python process whose PYTHONPATH holds it; blocks what MWAA's image lacks.
SITECUSTOMIZE = '''
import os, sys
if os.environ.get("DBMIGRATE_BLOCK_IMPORTS"):
    class _Block:
        blocked = tuple(os.environ["DBMIGRATE_BLOCK_IMPORTS"].split(","))
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ImportError(f"{name} is not installed on MWAA (blocked by the layout test)")
            return None
    sys.meta_path.insert(0, _Block())
'''

PARSE = '''
import json, sys
from airflow import plugins_manager
from airflow.dag_processing.dagbag import DagBag
plugin_errors = plugins_manager.get_import_errors()
plugins = sorted(p.name for p in plugins_manager._get_plugins()[0])
bag = DagBag(sys.argv[1])
try:
    import pyspark  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
print(json.dumps({"plugin_errors": plugin_errors, "plugins": plugins,
                  "dag_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags),
                  "heavy": sorted(m for m in ("pyspark", "awsglue") if m in sys.modules), "blocked": blocked}))
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "mwaa"
    mwaa_bundle.build(out)
    return out


@pytest.fixture(scope="module")
def mwaa_home(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home laid out as MWAA's: dags/ as synced, plugins/ = plugins.zip extracted, nothing else."""
    home = tmp_path_factory.mktemp("usr_local_airflow")
    subprocess.run(["cp", "-r", str(bundle / "dags"), str(home / "dags")], check=True)
    with zipfile.ZipFile(bundle / "plugins.zip") as zf:
        zf.extractall(home / "plugins")
    (home / "site").mkdir()
    (home / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return home


def mwaa_env(home: Path) -> dict[str, str]:
    """The stack's environment without the repository on the path, pointed at the MWAA layout, pyspark blocked."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DBMIGRATE_INCLUDE_DIR")}
    return {**env, "PYTHONPATH": str(home / "site"), "DBMIGRATE_BLOCK_IMPORTS": ",".join(BLOCKED),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}


class TestBundleContents:
    def test_plugins_zip(self, bundle: Path) -> None:
        names = set(zipfile.ZipFile(bundle / "plugins.zip").namelist())
        assert {"dbmigrate/plugin.py", "dbmigrate/paths.py", "dbmigrate/waiters/dynamodb_tables.json",
                "transforms/spec.py", "connectors/dsql.py", "connectors/progress.py"} <= names
        assert not any(n.startswith(("generators/", "jobs/", "specs/")) or "__pycache__" in n for n in names)

    def test_dags_folder(self, bundle: Path) -> None:
        dags = bundle / "dags"
        assert (dags / "migrations.py").is_file()
        inc = dags / "dbmigrate_include"
        assert {p.name for p in (inc / "specs").glob("*.yaml")} == {
            "movie_collection_to_dsql.yaml", "dms_sample_to_dynamodb.yaml"}
        assert (inc / "jobs" / "mongo_to_dsql.py").is_file() and (inc / "jobs" / "sqlserver_to_dynamodb.py").is_file()
        assert sorted(p.name for p in (inc / "sql" / "movie_db").glob("*.sql"))[0] == "001_schema.sql"
        assert (dags / ".airflowignore").read_text().split() == ["dbmigrate_include/"]

    def test_requirements_are_mwaa_installable(self, bundle: Path) -> None:
        lines = (bundle / "requirements.txt").read_text().splitlines()
        assert lines[0] == ('--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.1/'
                            'constraints-3.12.txt"')
        pinned = mwaa_bundle.pins() if mwaa_bundle.PINS.exists() else None
        for line in lines[1:]:
            m = mwaa_bundle._REQUIREMENT.match(line)
            assert m, line
            if pinned is not None:
                assert pinned[mwaa_bundle._norm(m.group(1))] == m.group(3), line

    def test_a_requirement_outside_the_constraints_fails_the_build(self, tmp_path: Path) -> None:
        req = tmp_path / "requirements.txt"
        req.write_text("boto3==1.43.56\nleftpad==1.0\n")
        with pytest.raises(SystemExit, match="leftpad==1.0: MWAA's constraints have no such package"):
            mwaa_bundle.requirements(req, {"boto3": "1.43.56"})

    def test_the_same_bytes_every_build(self, bundle: Path, tmp_path: Path) -> None:
        mwaa_bundle.build(tmp_path / "again")
        assert (tmp_path / "again" / "plugins.zip").read_bytes() == (bundle / "plugins.zip").read_bytes()


def test_dags_and_plugins_load_in_the_mwaa_layout_without_pyspark(mwaa_home: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", PARSE, str(mwaa_home / "dags")], env=mwaa_env(mwaa_home),
                          cwd=mwaa_home, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["blocked"], "the layout test must run without pyspark"
    assert result["plugin_errors"] == {}
    assert result["plugins"] == ["dbmigrate"]
    assert result["dag_errors"] == {}
    assert result["dags"] == ["dms_sample_to_dynamodb", DAG_ID]
    assert result["heavy"] == []


@pytest.mark.e2e
def test_a_migration_runs_from_the_mwaa_layout(mwaa_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "movies.json"
    expected = write(source, movies=150, seed=7, bad_input=True)
    started = time.time()
    proc = subprocess.run(["airflow", "dags", "test", DAG_ID, "-c", json.dumps({"source_uri": f"file://{source}"})],
                          env=mwaa_env(mwaa_home), cwd=mwaa_home, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert str(mwaa_home / "dags" / "dbmigrate_include" / "jobs" / "mongo_to_dsql.py") in log  # the bundled job ran
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["status"] == "passed"
    for name, e in expected["entities"].items():
        got = report["entities"][name]
        assert (got["source"], got["rejected"], got["duplicates"]) == (e["documents"], e["rejected"], e["duplicates"])
    assert report["rejects"] == expected["rejects"]
