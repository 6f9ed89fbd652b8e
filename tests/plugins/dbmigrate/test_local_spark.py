"""How the local profile starts Spark (`dbmigrate.local_spark`): what it keeps in its cache and when it keeps out.
A real spark-submit through it: tests/plugins/dbmigrate/operators/test_local_spark_submit.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyspark
import pytest

from dbmigrate.local_spark import (
    JIT_OPTIONS,
    STALE_WRITING_S,
    installed_spark_home,
    jvm_start,
    private_dir,
    spark_home,
)


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_HOME", raising=False)  # the tests' own (tests/fixtures/spark_jvm.py)


def test_the_spark_home_links_everything_but_the_python_zips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    home = spark_home(tmp_path / "cache")
    installed = Path(pyspark.__file__).parent
    assert home is not None and not (home / "python").exists() and (installed / "python" / "lib").is_dir()
    assert {p.name for p in home.iterdir()} == {p.name for p in installed.iterdir()} - {"python"}
    assert (home / "jars").resolve() == (installed / "jars").resolve()
    assert spark_home(tmp_path / "cache") == home  # made once
    monkeypatch.setenv("SPARK_HOME", str(home))  # from inside it: the home it links, the same one
    assert installed_spark_home() == installed and spark_home(tmp_path / "cache") == home


def test_nothing_is_kept_where_others_could_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o775)
    assert not private_dir(shared)
    assert spark_home(shared) is None
    start = jvm_start(installed_spark_home(), directory=shared, environ={})
    assert start.archive is None and start.java_options == " ".join(JIT_OPTIONS)
    assert private_dir(tmp_path / "mine") and oct((tmp_path / "mine").stat().st_mode & 0o777) == "0o700"


def test_the_archive_is_written_once_then_mapped(tmp_path: Path) -> None:
    home, cache = installed_spark_home(), tmp_path / "cache"
    first = jvm_start(home, directory=cache, environ={})
    assert first.writing is not None and f"-XX:ArchiveClassesAtExit={first.writing}" in first.java_options
    first.keep()  # the JVM wrote nothing (it failed): nothing becomes the archive
    assert not first.archive.exists()
    first.writing.write_bytes(b"archive")
    first.keep()
    again = jvm_start(home, directory=cache, environ={})
    assert again.writing is None and f"-XX:SharedArchiveFile={first.archive}" in again.java_options
    assert jvm_start(home, ("org.example:driver:1",), directory=cache, environ={}).archive != first.archive


def test_a_users_archive_wins_and_stale_dumps_go(tmp_path: Path) -> None:
    home, cache = installed_spark_home(), tmp_path / "cache"
    mine = {"SPARK_SUBMIT_OPTS": "-Xmx1g -XX:SharedArchiveFile=/opt/mine.jsa"}
    assert jvm_start(home, directory=cache, environ=mine).java_options == " ".join(JIT_OPTIONS)
    cache.mkdir(mode=0o700)
    stale, fresh = cache / "a.jsa.1.x.writing", cache / "b.jsa.2.y.writing"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    old = time.time() - STALE_WRITING_S - 60
    os.utime(stale, (old, old))
    jvm_start(home, directory=cache, environ={})
    assert not stale.exists() and fresh.exists()
