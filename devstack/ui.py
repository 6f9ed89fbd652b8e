"""`bin/local-stack ui`: Airflow's UI on the embedded stack (api-server, scheduler, dag-processor, triggerer).

The four processes run in the background with the stack's environment plus what a UI needs: the API server on a
port chosen once (kept in `.local-stack/state.json`) and bound to 127.0.0.1, the Execution API URL pointing at
it (tasks run by the LocalExecutor talk to it; its default assumes port 8080), a parallelism suited to a small
machine, and the simple auth manager with one known user, `admin`, whose password is generated once and kept in
the state file. Logs and pid files live under `.local-stack/ui/`. `start()` is idempotent: it reuses the
processes that are running and starts the others; `stop()` ends them (`bin/local-stack down` stops every set).

That is the user's set (`USER`). Another `Instance` runs beside it with its own ports, password, logs and pid
files (`.local-stack/<name>/`), its own metadata database if it names one, and environment overrides: the test
session's UI is one, so a user's UI and its runs never meet the tests' and the other way round.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from devstack import postgres, stack

USER = "admin"
# LocalExecutor starts `parallelism` worker processes and every task may start a local Spark job (a JVM with
# local[2]): on a 2-core laptop more than a handful at once only makes them all slower.
PARALLELISM = 4
# FastAPI's TestClient import (Airflow's in-process API client) warns on every start of every component.
QUIET_WARNINGS = "ignore:Using `httpx` with `starlette.testclient` is deprecated:DeprecationWarning"
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],  # host and port come from AIRFLOW__API__HOST/PORT
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
}


@dataclass(frozen=True)
class Instance:
    """One set of the four processes: its name (the folder under `.local-stack/` and the prefix of its keys in the
    state file), a metadata database of its own (None: the stack's, `airflow`), environment `overrides` and, per
    component (a key of `COMPONENTS`), overrides of that component's alone."""

    name: str = "ui"
    database: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    component_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    fresh: bool = False  # its database starts empty at each start: no run of an earlier start is in it (tests)

    @property
    def dir(self) -> Path:
        return stack.STATE_DIR / self.name

    def key(self, what: str) -> str:
        """Its key for `what` (port, password, ...) in the state file: `ui_port` for the user's set."""
        return f"{self.name.replace('-', '_')}_{what}"


USER_UI = Instance()


@dataclass(frozen=True)
class UiInfo:
    url: str
    user: str
    password: str
    started: list[str]  # the components this call started (empty: everything was already running)


def ui_state(instance: Instance = USER_UI) -> dict:
    """The stack state with the UI's port, log-server ports and password, chosen once and saved."""
    state = stack._state()
    changed = False
    for what in ("port", "worker_log_port", "trigger_log_port"):
        if instance.key(what) not in state:
            state[instance.key(what)] = stack._free_port()
            changed = True
    if instance.key("password") not in state:
        state[instance.key("password")] = secrets.token_urlsafe(12)
        changed = True
    if changed:
        stack.save_state(state)
    return state


def url_of(state: dict, instance: Instance = USER_UI) -> str:
    return f"http://127.0.0.1:{state[instance.key('port')]}"


def passwords_file(instance: Instance = USER_UI) -> Path:
    return instance.dir / "simple_auth_manager_passwords.json"


def metadata_uri(state: dict, database: str) -> str:
    """SQLAlchemy's URI of a metadata database on the stack's PostgreSQL, through psycopg2: the driver Airflow
    tests with (through psycopg 3, `get_dag_dependencies` binds its JSON path as varchar and the asset page 500s)."""
    return (f"postgresql+psycopg2://postgres:{quote(state['pg_password'], safe='')}@127.0.0.1:{state['pg_port']}"
            f"/{database}")


def ui_env(state: dict, instance: Instance = USER_UI) -> dict[str, str]:
    """The stack's environment plus the settings of the UI processes (all four share it), then the instance's."""
    url = url_of(state, instance)
    port = state[instance.key("port")]
    own_db = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_uri(state, instance.database)} if instance.database \
        else {}
    return {
        **stack.env_vars(state),
        "PYTHONWARNINGS": QUIET_WARNINGS,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"{url}/",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(instance)),
        # serve-logs of the scheduler (LocalExecutor) and of the triggerer: not the fixed 8793/8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(state[instance.key("worker_log_port")]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(state[instance.key("trigger_log_port")]),
        **own_db,
        **instance.overrides,
    }


def _write_passwords(password: str, instance: Instance = USER_UI) -> None:
    instance.dir.mkdir(parents=True, exist_ok=True)
    path = passwords_file(instance)
    want = {USER: password}
    try:
        if json.loads(path.read_text()) == want:
            return
    except (FileNotFoundError, ValueError):
        pass
    path.write_text(json.dumps(want))
    path.chmod(0o600)


def _pid(name: str, instance: Instance = USER_UI) -> int | None:
    """The pid of a running component started by us (its pid file names a live `airflow <component>`)."""
    pidfile = instance.dir / f"{name}.pid"
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    # `python …/airflow api-server`, or the title Airflow gives it later (`airflow api_server -- host:…`)
    joined = b" ".join(cmdline).replace(b"_", b"-")
    if b"airflow" not in joined or COMPONENTS[name][0].encode() not in joined:
        return None  # the pid was reused by something else
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None  # a zombie: exited, not reaped
    except FileNotFoundError:
        return None
    return pid


def running(instance: Instance = USER_UI) -> dict[str, int]:
    return {name: pid for name in COMPONENTS if (pid := _pid(name, instance))}


def healthy(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def token(url: str, user: str, password: str) -> str:
    """A JWT for the public REST API (`Authorization: Bearer …`) from the simple auth manager."""
    req = urllib.request.Request(f"{url}/auth/token", data=json.dumps({"username": user, "password": password})
                                 .encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def log_tail(name: str, lines: int = 40, instance: Instance = USER_UI) -> str:
    path = instance.dir / f"{name}.log"
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _migrate(env: dict[str, str], state: dict, instance: Instance) -> None:
    """An instance's own metadata database: made and `airflow db migrate`d once (again if it was made anew). A
    `fresh` instance's is a copy, made anew at each start, of one migrated once (`<database>_migrated`): a copy
    takes a second, a migration half a minute."""
    assert instance.database is not None
    migrated = f"{instance.database}_migrated" if instance.fresh else instance.database
    created = postgres.ensure_database(state["pg_port"], state["pg_password"], migrated)
    marker = instance.dir / ".migrated"
    if created or not marker.exists():
        subprocess.run([str(stack.VENV_BIN / "airflow"), "db", "migrate"], check=True, stdout=subprocess.DEVNULL,
                       env={**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_uri(state, migrated)})
        marker.touch()
    if instance.fresh:
        postgres.copy_database(state["pg_port"], state["pg_password"], migrated, instance.database)


def start(timeout: float = 180.0, instance: Instance = USER_UI) -> UiInfo:
    """Start what is not running of the four components and wait until the API server answers."""
    state = ui_state(instance)
    env = {**os.environ, **ui_env(state, instance)}
    url = url_of(state, instance)
    port_key = instance.key("port")
    _write_passwords(state[instance.key("password")], instance)
    alive = running(instance)
    if "api-server" not in alive and _port_in_use(state[port_key]):
        raise SystemExit(f"port {state[port_key]} ({port_key} in {stack.STATE_FILE}) is taken by another process; "
                         f"stop it or remove {port_key} from the state file")
    if instance.database and not alive:
        _migrate(env, state, instance)
    started: dict[str, subprocess.Popen] = {}
    for name, args in COMPONENTS.items():
        if name in alive:
            continue
        log = open(instance.dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen([str(stack.VENV_BIN / "airflow"), *args],
                                env={**env, **instance.component_overrides.get(name, {})}, cwd=stack.ROOT,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        (instance.dir / f"{name}.pid").write_text(str(proc.pid))
        started[name] = proc
    deadline = time.monotonic() + timeout
    while not healthy(url):
        dead = [name for name, proc in started.items() if proc.poll() is not None]
        dead += [name for name in alive if not _pid(name, instance)]
        if dead or time.monotonic() > deadline:
            why = f"{', '.join(dead)} exited" if dead else f"no answer from {url} after {timeout:.0f}s"
            tails = "\n".join(f"--- {instance.dir / (n + '.log')} (tail)\n{log_tail(n, instance=instance)}"
                              for n in (dead or ["api-server"]))
            raise SystemExit(f"Airflow UI did not start: {why}\n{tails}")
        time.sleep(1)
    return UiInfo(url=url, user=USER, password=state[instance.key("password")], started=list(started))


def _reap(pid: int) -> None:
    """Collect the exit status when the caller is the parent (a test session), so no zombie is left."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(names: list[str] | None = None, timeout: float = 30.0, instance: Instance = USER_UI) -> list[str]:
    """End the components we started (their whole process groups: workers, serve-logs, parsers); all by default."""
    stopped = []
    pids = {n: p for n, p in running(instance).items() if names is None or n in names}
    for name, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        stopped.append(name)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        for pid in pids.values():
            _reap(pid)
        pids = {n: p for n, p in pids.items() if _pid(n, instance)}
        time.sleep(0.3)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids.values():
        _reap(pid)
    for name in names or COMPONENTS:
        (instance.dir / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def stop_all() -> list[str]:
    """Stop every set of the stack (the user's and any other `Instance`): `bin/local-stack down`."""
    stopped = []
    for folder in sorted(p.parent for p in stack.STATE_DIR.glob("*/api-server.pid")):
        instance = Instance(folder.name)
        stopped += [f"{instance.name}/{n}" if instance != USER_UI else n for n in stop(instance=instance)]
    return stopped


def status() -> dict[str, object]:
    state = ui_state()
    return {"url": url_of(state), "healthy": healthy(url_of(state)), "running": running()}


def main() -> int:
    info = start()
    what = f"started {', '.join(info.started)}" if info.started else "already running"
    print(f"Airflow UI ({what}): {info.url}", file=sys.stderr)
    print(f"  login: {info.user} / {info.password}", file=sys.stderr)
    print(f"  logs:  {USER_UI.dir}/{{api-server,scheduler,dag-processor,triggerer}}.log", file=sys.stderr)
    print("  stop:  bin/local-stack down", file=sys.stderr)
    return 0
