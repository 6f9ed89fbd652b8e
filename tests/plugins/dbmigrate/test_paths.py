"""`dbmigrate.paths`: where the DAGs find `specs/`, `sql/` and `jobs/` (the repository, the MWAA bundle, an
explicit override)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbmigrate import paths


def test_the_dags_folder_comes_from_airflows_config_when_the_environment_has_none(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On MWAA the DAGs folder is Airflow's `[core] dags_folder`, not an environment variable: the bundle's
    include folder beside the DAG file is found through it."""
    monkeypatch.delenv("AIRFLOW__CORE__DAGS_FOLDER", raising=False)
    from airflow.providers.common.compat.sdk import conf

    monkeypatch.setattr(conf, "get", lambda section, key, fallback=None: str(tmp_path)
                        if (section, key) == ("core", "dags_folder") else fallback)
    assert paths.candidates()[-1] == tmp_path / paths.BUNDLED_INCLUDE


def test_no_include_folder_anywhere_is_an_error_naming_each_place_tried(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.INCLUDE_ENV, str(tmp_path / "override"))
    monkeypatch.setattr(paths, "_REPO_INCLUDE", tmp_path / "repo")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    with pytest.raises(FileNotFoundError) as err:
        paths.include_dir()
    for tried in ("override", "repo", f"dags/{paths.BUNDLED_INCLUDE}"):
        assert str(tmp_path / tried) in str(err.value)
    (tmp_path / "dags" / paths.BUNDLED_INCLUDE / "specs").mkdir(parents=True)
    assert paths.include_dir() == tmp_path / "dags" / paths.BUNDLED_INCLUDE
