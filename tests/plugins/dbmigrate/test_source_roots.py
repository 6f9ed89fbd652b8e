"""Source confinement: a `source_uri` outside the allowed roots fails in `check_source`, before anything is read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate import runtime, source_roots
from dbmigrate.operators.source import CheckMongoSourceOperator
from dbmigrate.source_roots import SourceOutsideRoots, check_confined, parse_roots

MOVIE = "movie_collection_to_dsql"


@pytest.mark.parametrize(("uri", "roots"), [
    ("file:///data/exports/movies.json", ["/data/exports"]),
    ("/data/exports/sub/movies.json", ["file:///data/exports/"]),
    ("s3://bucket/exports/movies.json", ["s3://bucket/exports/"]),
    ("s3://bucket/exports/2026/movies.json", ["s3://bucket/exports"]),
    ("s3://bucket/anything.json", ["s3://bucket"]),
    ("mongodb+srv://Movies.Cluster.example.net/?retryWrites=false", ["mongodb+srv://movies.cluster.example.net"]),
    ("mongodb://user:pw@db1:27017,db2:27017/x", ["mongodb://db1,db2:27017,db3"]),
])
def test_inside(uri: str, roots: list[str]) -> None:
    check_confined(uri, roots)


@pytest.mark.parametrize(("uri", "roots"), [
    ("file:///allowed/dir/../../etc/passwd", ["/allowed/dir"]),
    ("/data/exportsX/movies.json", ["/data/exports"]),  # by path segment, not by string prefix
    ("s3://bucket/exportsX/movies.json", ["s3://bucket/exports"]),
    ("s3://bucket/exports/../secrets/key.json", ["s3://bucket/exports/"]),
    ("s3://other/exports/movies.json", ["s3://bucket/exports/"]),
    ("mongodb://evil.example.net:27017/", ["mongodb://db1:27017"]),
    ("mongodb://db1:27018/", ["mongodb://db1:27017"]),
    ("s3://bucket/exports/movies.json", ["/data/exports"]),
    ("file:///etc/passwd", []),
])
def test_outside(uri: str, roots: list[str]) -> None:
    with pytest.raises(SourceOutsideRoots, match="source "):
        check_confined(uri, roots)


def test_a_symlink_inside_pointing_outside_is_outside(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "link.json").symlink_to("/etc/hostname")
    (allowed / "real.json").write_text("{}\n")
    check_confined(f"file://{allowed}/real.json", [str(allowed)])
    with pytest.raises(SourceOutsideRoots):
        check_confined(f"file://{allowed}/link.json", [str(allowed)])


def test_a_directory_source_with_a_symlink_pointing_outside_is_outside(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "part-0.json").write_text("{}\n")
    source_roots.check_files_confined(f"file://{allowed}/", [str(allowed)])
    (allowed / "part-1.json").symlink_to("/etc/hostname")  # the directory itself is inside: its files are not
    check_confined(f"file://{allowed}/", [str(allowed)])
    with pytest.raises(SourceOutsideRoots, match="part-1.json is outside"):
        source_roots.check_files_confined(f"file://{allowed}/", [str(allowed)])


def test_env_over_variable_over_spec_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = runtime.spec_for(MOVIE)
    monkeypatch.delenv(source_roots.ENV, raising=False)
    monkeypatch.delenv(f"AIRFLOW_VAR_{source_roots.VARIABLE.upper()}", raising=False)
    defaults = source_roots.configured_roots(spec, "local")
    assert spec.source_uri in defaults and tempfile.gettempdir() in defaults
    assert os.environ["LOCAL_DATA_DIR"] in defaults
    assert tempfile.gettempdir() not in source_roots.configured_roots(spec, "aws")
    monkeypatch.setenv(f"AIRFLOW_VAR_{source_roots.VARIABLE.upper()}", "s3://from-variable/x/")
    assert source_roots.configured_roots(spec, "local") == ["s3://from-variable/x/"]
    monkeypatch.setenv(source_roots.ENV, " /from/env , s3://b/p/ ,")
    assert source_roots.configured_roots(spec, "local") == ["/from/env", "s3://b/p/"]
    assert parse_roots(None) == []


def _check(uri: str) -> str:
    op = CheckMongoSourceOperator(task_id="check_source", spec_dag_id=MOVIE, source_uri=uri, aws_conn_id=None,
                                  profile="local")
    return op.execute({})


def test_check_source_refuses_a_file_outside_the_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    monkeypatch.delenv(source_roots.ENV, raising=False)
    with pytest.raises(AirflowFailException, match="outside the allowed source roots"):
        _check("file:///etc/passwd")
    state = Path(os.environ["AIRFLOW_HOME"]).parent / "state.json"  # the local stack's passwords
    with pytest.raises(AirflowFailException, match="outside the allowed source roots"):
        _check(f"file://{os.environ['LOCAL_DATA_DIR']}/../{state.name}")
    export = tmp_path / "movie_collection.json"
    export.write_text('{"_id": 1, "type": "movie"}\n')
    assert _check(f"file://{export}") == f"file://{export}"
    monkeypatch.setenv(source_roots.ENV, "/somewhere/else")
    with pytest.raises(AirflowFailException, match="outside the allowed source roots"):
        _check(f"file://{export}")


def test_the_stack_state_and_airflow_home_are_never_sources_even_under_an_allowed_root(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A checkout under the temp directory puts the stack's state (its passwords) inside the temp-dir root."""
    stack = tmp_path / "checkout" / ".local-stack"
    for d in ("data", "airflow"):
        (stack / d).mkdir(parents=True)
    monkeypatch.setenv("LOCAL_STACK_DIR", str(stack))
    monkeypatch.setenv("AIRFLOW_HOME", str(stack / "airflow"))
    roots = [str(stack / "data"), tempfile.gettempdir()]
    for private in (stack / "state.json", stack / "airflow" / "airflow.cfg", stack / "data" / ".." / "state.json"):
        with pytest.raises(source_roots.SourceOutsideRoots, match="own state and secrets"):
            source_roots.check_confined(f"file://{private}", roots)
    source_roots.check_confined(f"file://{stack / 'data' / 'movies.json'}", roots)
    source_roots.check_confined(f"file://{tmp_path / 'export.json'}", roots)
    with pytest.raises(source_roots.SourceOutsideRoots):  # naming the stack itself as a root does not open it
        source_roots.check_confined(f"file://{stack / 'state.json'}", [str(stack)])


def test_a_jobs_own_files_are_never_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password file a running job keeps in its temp folder: refused even though the temp folder is a root
    on the embedded stack (a dry run takes no lock, and would read it as its source)."""
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    workdir = Path(tempfile.mkdtemp(prefix=source_roots.JOB_DIR))  # as the local Spark job makes it
    try:
        secret = workdir / "target.password"
        secret.write_text("s3cret\n")
        roots = source_roots.configured_roots(runtime.spec_for(MOVIE), "local")
        assert any(Path(tempfile.gettempdir()).resolve() == Path(r).resolve() for r in roots if r.startswith("/"))
        with pytest.raises(SourceOutsideRoots, match="a folder a migration job keeps its own files in"):
            check_confined(secret.as_uri(), roots)
        op = CheckMongoSourceOperator(task_id="check_source", spec_dag_id=MOVIE, source_uri=str(secret),
                                      profile="local")
        with pytest.raises(AirflowFailException, match="never a source"):
            op.execute({})
    finally:
        secret.unlink()
        workdir.rmdir()
