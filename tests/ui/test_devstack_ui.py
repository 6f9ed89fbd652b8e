"""`devstack.ui` without Airflow: the state it keeps, the environment the UI processes get, pid files, and the
four components started and stopped, stand-ins recording their environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack import postgres, stack, ui


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stack, "STATE_DIR", tmp_path)
    monkeypatch.setattr(stack, "STATE_FILE", tmp_path / "state.json")
    return tmp_path


def test_port_and_password_are_chosen_once_and_kept(state_dir: Path) -> None:
    first = ui.ui_state()
    assert {"pg_port", "pg_password", "moto_port", "ui_port", "ui_password"} <= set(first)
    assert ui.ui_state() == first == json.loads((state_dir / "state.json").read_text())
    assert (state_dir / "state.json").stat().st_mode & 0o077 == 0


def test_environment_of_the_ui_processes(state_dir: Path) -> None:
    state = ui.ui_state()
    env = ui.ui_env(state)
    url = f"http://127.0.0.1:{state['ui_port']}"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{url}/execution/"
    assert env["AIRFLOW__API__PORT"] == str(state["ui_port"]) and env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) == ui.PARALLELISM <= 8
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(ui.passwords_file())
    # everything the CLI and the tasks get from the stack is there too
    assert stack.env_vars(state).items() <= env.items()


def test_another_instance_has_its_own_ports_password_folder_and_metadata_db(state_dir: Path) -> None:
    tests = ui.Instance("ui-tests", database="airflow_ui_tests", overrides={"LOCAL_DATA_DIR": "/data/elsewhere"})
    ui.ui_state()
    state = ui.ui_state(tests)
    assert state["ui_tests_port"] != state["ui_port"] and state["ui_tests_password"] != state["ui_password"]
    env = ui.ui_env(state, tests)
    assert env["AIRFLOW__API__PORT"] == str(state["ui_tests_port"])
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(f":{state['pg_port']}/airflow_ui_tests")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(state_dir / "ui-tests" / ui.passwords_file(
        tests).name)
    assert env["LOCAL_DATA_DIR"] == "/data/elsewhere"
    assert ui.ui_env(state)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(f"/{stack.AIRFLOW_DB}")


def test_password_file_holds_the_known_login(state_dir: Path) -> None:
    ui._write_passwords("s3cret")
    assert json.loads(ui.passwords_file().read_text()) == {"admin": "s3cret"}
    assert ui.passwords_file().stat().st_mode & 0o077 == 0


def test_a_pid_file_naming_another_process_is_not_ours(state_dir: Path) -> None:
    ui.USER_UI.dir.mkdir()
    (ui.USER_UI.dir / "scheduler.pid").write_text(str(os.getpid()))  # pytest, not `airflow scheduler`
    assert ui.running() == {}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "airflow", "scheduler"])
    try:
        (ui.USER_UI.dir / "scheduler.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + 10
        while b"scheduler" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd
        assert ui.running() == {"scheduler": proc.pid}
    finally:
        proc.kill()
        proc.wait()
    assert ui.running() == {}


def test_a_fresh_instance_starts_from_a_copy_of_its_migrated_database(dsql_uri: str) -> None:
    """The test session's UI (`fresh=True`) gets its metadata database made anew from `<database>_migrated` at
    each start, so what an earlier session's runs left in it is gone (a backfill over the same days would
    otherwise find those runs and clear them)."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(dsql_uri)
    port, password = int(info["port"]), str(info["password"])
    template, name = "devstack_copy_template", "devstack_copy"
    postgres.ensure_database(port, password, template)
    with psycopg.connect(**{**info, "dbname": template}, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS dag_run (run_id text)")
    try:
        postgres.copy_database(port, password, template, name)
        with psycopg.connect(**{**info, "dbname": name}, autocommit=True) as conn:
            conn.execute("INSERT INTO dag_run VALUES ('left by an earlier session')")
        postgres.copy_database(port, password, template, name)  # the copy is dropped and made again
        with psycopg.connect(**{**info, "dbname": name}, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM dag_run").fetchone() == (0,)
        assert not postgres.ensure_database(port, password, name)  # it exists: nothing to create
    finally:
        with psycopg.connect(**info, autocommit=True) as conn:
            for db in (name, template):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_status_of_a_ui_that_is_not_running(state_dir: Path) -> None:
    """`bin/local-stack status` says where the UI would answer and that nothing of it runs."""
    status = ui.status()
    assert status == {"url": ui.url_of(ui.ui_state()), "healthy": False, "running": {}}


FAKE_AIRFLOW = """#!{python}
import http.server, json, os, sys, time
from pathlib import Path
Path(os.environ["ENV_DUMP_DIR"], sys.argv[1]).write_text(json.dumps(dict(os.environ)))
if sys.argv[1] == "api-server":  # answers the health check `start` waits for
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
    http.server.HTTPServer(("127.0.0.1", int(os.environ["AIRFLOW__API__PORT"])), Health).serve_forever()
time.sleep(120)
"""


def test_a_components_own_overrides_reach_that_component_alone(state_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`Instance.component_overrides`: a component's own environment on top of the instance's (the test session's
    UI leaves coverage out of three of its four processes), started and stopped by `start` and `stop` for real,
    an `airflow` executable that records its environment standing in for Airflow's."""
    bin_dir, dumps = state_dir / "bin", state_dir / "env"
    bin_dir.mkdir()
    dumps.mkdir()
    (bin_dir / "airflow").write_text(FAKE_AIRFLOW.format(python=sys.executable))
    (bin_dir / "airflow").chmod(0o755)
    monkeypatch.setattr(stack, "VENV_BIN", bin_dir)
    monkeypatch.setenv("ENV_DUMP_DIR", str(dumps))
    inst = ui.Instance("ui-fake", overrides={"LOCAL_DATA_DIR": "/data/elsewhere"},
                       component_overrides={"triggerer": {"LOCAL_DATA_DIR": "/data/trigger", "ONLY_HERE": "1"}})
    info = ui.start(timeout=30, instance=inst)
    try:
        assert sorted(info.started) == sorted(ui.COMPONENTS)
        envs = {name: json.loads((dumps / name).read_text()) for name in ui.COMPONENTS}
    finally:
        assert sorted(ui.stop(instance=inst)) == sorted(ui.COMPONENTS)
    assert envs["triggerer"]["LOCAL_DATA_DIR"] == "/data/trigger" and envs["triggerer"]["ONLY_HERE"] == "1"
    for name in ("api-server", "scheduler", "dag-processor"):
        assert envs[name]["LOCAL_DATA_DIR"] == "/data/elsewhere" and "ONLY_HERE" not in envs[name]
