"""The embedded PostgreSQL server (from PyPI `pgserver`): the local stand-in for Aurora DSQL and SQL Server.

We drive pgserver's bundled `initdb` / `pg_ctl` ourselves rather than its `PostgresServer` class, because
that class listens on a unix socket only and stops the server when the Python process exits; the stack
needs a TCP port (Spark executors, Airflow connections, psql) and a server that outlives the command.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at pgserver's import
    warnings.simplefilter("ignore")
    from pgserver import _commands as pg_commands
    from pgserver import utils as pg_utils

POSTGRES_USER = "postgres"
# PostgreSQL refuses to run as root; pgserver creates this system user when it must.
ROOT_RUN_AS = "pgserver"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    pg_utils.ensure_user_exists(ROOT_RUN_AS)
    return ROOT_RUN_AS


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


def bin_path(name: str) -> Path:
    return pg_commands.POSTGRES_BIN_PATH / name


def init(pgdata: Path, password: str) -> None:
    """Create the cluster once: password (SCRAM) over TCP, trust on the unix socket."""
    if (pgdata / "PG_VERSION").exists():
        return
    user = _run_as()
    pgdata.mkdir(parents=True, exist_ok=True)
    pwfile = pgdata.parent / "pg.pwfile"
    pwfile.write_text(password + "\n")
    if user:
        pg_utils.ensure_prefix_permissions(pgdata)
        pg_utils.ensure_folder_permissions(pg_commands.POSTGRES_BIN_PATH, 0o055)
        pg_utils.ensure_folder_permissions(pg_commands.POSTGRES_BIN_PATH.parent / "lib", 0o044)
        _chown_tree(pgdata, user)
        _chown_tree(pwfile, user)
    pg_commands.initdb(
        ["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
         "-U", POSTGRES_USER, f"--pwfile={pwfile}"],
        pgdata=pgdata, user=user,
    )
    pwfile.unlink()


def start(pgdata: Path, port: int, log: Path) -> None:
    user = _run_as()
    sock = pgdata / "sock"
    sock.mkdir(exist_ok=True)
    log.touch()
    _chown_tree(sock, user)
    _chown_tree(log, user)
    opts = f"-h 127.0.0.1 -p {port} -k {sock} -c max_connections=200 -c fsync=off -c synchronous_commit=off"
    pg_commands.pg_ctl(["-w", "-t", "60", "-l", str(log), "-o", opts, "start"], pgdata=pgdata, user=user, timeout=90)


def is_running(pgdata: Path) -> bool:
    user = _run_as()
    res = subprocess.run([str(bin_path("pg_ctl")), "-D", str(pgdata), "status"], capture_output=True,
                         user=user, check=False)
    return res.returncode == 0


def stop(pgdata: Path) -> None:
    if (pgdata / "PG_VERSION").exists() and is_running(pgdata):
        pg_commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_run_as(), timeout=60)


def _psql(port: int, password: str, sql: str) -> str:
    """One statement on the server's `postgres` database through psql (so no driver is needed here)."""
    return subprocess.run(
        [str(bin_path("psql")), "-h", "127.0.0.1", "-p", str(port), "-U", POSTGRES_USER, "-d", "postgres",
         "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        env={**os.environ, "PGPASSWORD": password}, capture_output=True, text=True, check=True).stdout.strip()


def ensure_database(port: int, password: str, name: str) -> bool:
    """CREATE DATABASE if missing; True if it was created."""
    exists = _psql(port, password, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if not exists:
        _psql(port, password, f'CREATE DATABASE "{name}"')
    return not exists


def copy_database(port: int, password: str, template: str, name: str) -> None:
    """`name` made anew as a copy of `template` (which nobody may be connected to)."""
    _psql(port, password, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql(port, password, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def new_password() -> str:
    return secrets.token_urlsafe(18)


def remove(pgdata: Path) -> None:
    stop(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)
