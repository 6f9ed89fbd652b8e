"""The MWAA bundle: its contents, and the bundle unpacked as MWAA does it (dags/ synced, plugins.zip extracted, no
include/, no repository on the path, no pyspark): plugins and DAGs load without errors. A whole run from that
layout is one of the shared movie runs (tests/e2e/test_movie_dag.py, `movie_run`)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devstack import mwaa_bundle
from tests.fixtures.mwaa import build_home, mwaa_env

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "movie_collection_to_dsql"
DAG_IDS = ["dms_sample_to_dynamodb", DAG_ID, "retail_to_dynamodb"]
CONSTRAINT = '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.1/constraints-3.12.txt"'
# Loads the plugins as Airflow's plugins manager does (every .py file under the plugins folder), then the DAGs.
PARSE = '''
import json, sys
from pathlib import Path
from airflow import plugins_manager
from airflow.models import DagBag
plugin_errors = plugins_manager.get_import_errors()
plugins = sorted(p["name"] for p in plugins_manager.get_plugin_info(attrs_to_dump=["name"]))
bag = DagBag(sys.argv[1])
try:
    import pyspark  # noqa: F401
    blocked = None
except ImportError as err:
    blocked = str(err)
import connectors, dbmigrate, transforms
from dbmigrate import paths
repo = Path(sys.argv[2])
print(json.dumps({
    "plugin_errors": plugin_errors, "plugins": plugins,
    "dag_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags),
    "heavy": sorted(m for m in ("pyspark", "py4j", "awsglue") if m in sys.modules), "blocked": blocked,
    "origins": {m.__name__: m.__file__ for m in (dbmigrate, transforms, connectors)},
    "include_dir": str(paths.include_dir()),
    "repo_on_path": [p for p in sys.path if p and Path(p).resolve() in
                     {repo, repo / "plugins", repo / "include", repo / "dags"}],
}))
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mwaa_bundle.build(tmp_path_factory.mktemp("dist") / "mwaa")


@pytest.fixture(scope="module")
def mwaa_home(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home laid out as MWAA's: dags/ as synced, plugins/ = plugins.zip extracted, nothing else."""
    return build_home(bundle, tmp_path_factory.mktemp("usr_local_airflow"))


class TestBundleContents:
    def test_plugins_zip(self, bundle: Path) -> None:
        names = zipfile.ZipFile(bundle / "plugins.zip").namelist()
        assert {"dbmigrate/__init__.py", "dbmigrate/plugin.py", "dbmigrate/paths.py",
                "dbmigrate/waiters/dynamodb_tables.json", "transforms/spec.py", "connectors/dsql.py",
                "connectors/progress.py"} <= set(names)
        assert {n.split("/", 1)[0] for n in names} == {"dbmigrate", "transforms", "connectors"}
        assert not any(n.startswith(("generators/", "jobs/")) or "__pycache__" in n or n.endswith(".pyc")
                       for n in names)
        shipped = {f"dbmigrate/{p.relative_to(REPO / 'plugins' / 'dbmigrate').as_posix()}"
                   for p in (REPO / "plugins" / "dbmigrate").rglob("*.py") if "__pycache__" not in p.parts}
        assert shipped <= set(names)  # the whole plugin package

    def test_dags_folder(self, bundle: Path) -> None:
        dags = bundle / "dags"
        assert (dags / "migrations.py").read_bytes() == (REPO / "dags" / "migrations.py").read_bytes()
        inc = dags / "dbmigrate_include"
        assert {p.name for p in (inc / "specs").glob("*.yaml")} == {p.name for p in (REPO / "include" / "specs")
                                                                    .glob("*.yaml")}
        assert (inc / "jobs" / "mongo_to_dsql.py").is_file() and (inc / "jobs" / "sql_to_dynamodb.py").is_file()
        assert sorted(p.relative_to(inc).as_posix() for p in (inc / "sql").rglob("*.sql")) == sorted(
            p.relative_to(REPO / "include").as_posix() for p in (REPO / "include" / "sql").rglob("*.sql"))
        assert not (inc / "generators").exists() and not (inc / "transforms").exists()

    @pytest.mark.parametrize("syntax", ["glob", "regexp"])
    def test_the_dag_processor_sees_only_the_dag_file(self, bundle: Path, syntax: str) -> None:
        from airflow._shared.module_loading import find_path_from_directory

        found = [Path(p).relative_to(bundle / "dags").as_posix() for p in
                 find_path_from_directory(bundle / "dags", ".airflowignore", syntax)]
        assert [p for p in found if p.endswith(".py")] == ["migrations.py"]

    def test_requirements_are_mwaa_installable(self, bundle: Path) -> None:
        lines = (bundle / "requirements.txt").read_text().splitlines()
        assert lines[0] == CONSTRAINT
        ours = [line.split("#", 1)[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
        assert len(lines) - 1 == len([line for line in ours if line])  # every runtime requirement, nothing else
        pinned = mwaa_bundle.pins() if mwaa_bundle.PINS.exists() else None
        for line in lines[1:]:
            m = mwaa_bundle._REQUIREMENT.match(line)
            assert m and m["version"] and not m["rest"], line
            if pinned is not None:
                assert pinned[mwaa_bundle._norm(m["name"])] == m["version"], line

    def test_each_requirement_takes_mwaas_version(self, tmp_path: Path) -> None:
        req = tmp_path / "requirements.txt"
        req.write_text("# runtime\nboto3==1.0  # older\npsycopg[binary]\n")
        assert mwaa_bundle.requirements(req, {"boto3": "1.43.56", "psycopg": "3.3.4"}) == [
            CONSTRAINT, "boto3==1.43.56", "psycopg[binary]==3.3.4"]

    def test_a_requirement_outside_the_constraints_fails_the_build(self, tmp_path: Path) -> None:
        req = tmp_path / "requirements.txt"
        req.write_text("boto3==1.43.56\nleftpad==1.0\n")
        with pytest.raises(SystemExit, match="leftpad==1.0: MWAA's constraints have no such package"):
            mwaa_bundle.requirements(req, {"boto3": "1.43.56"})

    def test_without_the_pins_file_requirements_keep_their_own_pins(self, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
        out = mwaa_bundle.build(tmp_path / "mwaa", pins_file=tmp_path / "missing.txt")
        assert "not found" in capsys.readouterr().err
        ours = [line.split("#", 1)[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
        assert (out / "requirements.txt").read_text().splitlines() == [CONSTRAINT, *[line for line in ours if line]]
        req = tmp_path / "requirements.txt"
        req.write_text("boto3\n")
        with pytest.raises(SystemExit, match="not pinned"):
            mwaa_bundle.requirements(req, None)

    def test_the_same_bytes_every_build(self, bundle: Path, tmp_path: Path) -> None:
        again = mwaa_bundle.build(tmp_path / "again")
        assert (again / "plugins.zip").read_bytes() == (bundle / "plugins.zip").read_bytes()
        assert (again / "requirements.txt").read_bytes() == (bundle / "requirements.txt").read_bytes()

    def test_build_empties_out_first(self, tmp_path: Path) -> None:
        stale = tmp_path / "mwaa" / "dags" / "old_dag.py"
        stale.parent.mkdir(parents=True)
        stale.write_text("")
        mwaa_bundle.build(tmp_path / "mwaa")
        assert not stale.exists()

    def test_cli_prints_a_summary(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert mwaa_bundle.main(["--out", str(tmp_path / "mwaa")]) == 0
        out = capsys.readouterr().out
        assert "plugins.zip (" in out and "dags/ (" in out


def test_dags_and_plugins_load_in_the_mwaa_layout_without_pyspark(mwaa_home: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", PARSE, str(mwaa_home / "dags"), str(REPO)],
                          env=mwaa_env(mwaa_home), cwd=mwaa_home, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "blocked by the layout test" in (result["blocked"] or ""), "the layout test must run without pyspark"
    assert result["repo_on_path"] == []
    assert all(Path(f).is_relative_to(mwaa_home / "plugins") for f in result["origins"].values()), result["origins"]
    assert Path(result["include_dir"]) == mwaa_home / "dags" / "dbmigrate_include"
    assert result["plugin_errors"] == {}
    assert result["plugins"] == ["dbmigrate"]
    assert result["dag_errors"] == {}
    assert result["dags"] == DAG_IDS
    assert result["heavy"] == []
