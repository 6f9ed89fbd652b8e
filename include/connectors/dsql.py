"""Connections to Aurora DSQL (or its local PostgreSQL stand-in) without Airflow.

The Airflow hook and the Spark executors on EMR both connect through this module, so IAM tokens, TLS,
the 1-hour connection limit and optimistic-concurrency (OCC) retries are handled the same way in both.
It must not import Airflow: it ships to the executors inside the job bundle.

    target = DsqlTarget(host="abc.dsql.us-east-1.on.aws", region="us-east-1")
    with RecyclingConnection(target) as rc:
        run_with_retry(lambda: write_batch(rc.get(), rows))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg.sql

from connectors.retry import retry

if TYPE_CHECKING:
    import boto3

__all__ = [
    "APPLICATION_NAME",
    "DSQL_MAX_CONNECTION_AGE_S",
    "DsqlTarget",
    "RecyclingConnection",
    "auth_token",
    "connect",
    "is_connection_lost",
    "is_occ_conflict",
    "run_with_retry",
    "table_exists",
]

APPLICATION_NAME = "dbmigrate"
DSQL_MAX_CONNECTION_AGE_S = 3600  # DSQL closes every connection after one hour
MAX_TOKEN_EXPIRES_S = 604800  # SigV4 presigned URLs live at most 7 days
OCC_SQLSTATE = "40001"
AUTH_MODES = ("iam", "password")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_TLS_MODES = ("require", "verify-ca", "verify-full")

T = TypeVar("T")


@dataclass(frozen=True)
class DsqlTarget:
    """Where and how to connect; checked on creation so a bad config fails before any connection.

    `auth="iam"` means real DSQL: a fresh IAM token replaces the password on every connect.
    `auth="password"` is for the PostgreSQL stand-in. The password never appears in `repr()`.
    """

    host: str
    port: int = 5432
    user: str = "admin"
    database: str = "postgres"
    region: str | None = None
    auth: str = "iam"
    password: str | None = field(default=None, repr=False)
    sslmode: str = "verify-full"
    token_expires_s: int = 900
    max_connection_age_s: float = 3300  # recycle before DSQL's 1 h limit cuts a connection mid-batch
    connect_timeout_s: int = 10
    sslrootcert: str | None = None  # None: libpq's "system" trust store for verify-* modes

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("DsqlTarget.host is required")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"DsqlTarget.auth must be one of {AUTH_MODES}, got {self.auth!r}")
        if self.sslmode not in SSL_MODES:
            raise ValueError(f"DsqlTarget.sslmode must be one of {SSL_MODES}, got {self.sslmode!r}")
        if self.auth == "iam":
            if not self.region:
                raise ValueError("DsqlTarget: auth='iam' needs `region` to sign the auth token")
            if self.sslmode not in _TLS_MODES:
                raise ValueError(f"DsqlTarget: Aurora DSQL requires TLS; sslmode must be one of {_TLS_MODES}, "
                                 f"got {self.sslmode!r}")
        if self.auth == "password" and not self.password:
            raise ValueError("DsqlTarget: auth='password' needs `password`")
        if not 0 < self.port < 65536:
            raise ValueError(f"DsqlTarget.port must be 1..65535, got {self.port}")
        if not 0 < self.token_expires_s <= MAX_TOKEN_EXPIRES_S:
            raise ValueError(f"DsqlTarget.token_expires_s must be 1..{MAX_TOKEN_EXPIRES_S}, "
                             f"got {self.token_expires_s}")
        if not 0 < self.max_connection_age_s <= DSQL_MAX_CONNECTION_AGE_S:
            raise ValueError(f"DsqlTarget.max_connection_age_s must be in (0, {DSQL_MAX_CONNECTION_AGE_S}], "
                             f"got {self.max_connection_age_s}")

    @property
    def is_dsql(self) -> bool:
        """True for real Aurora DSQL (IAM auth), False for the PostgreSQL stand-in."""
        return self.auth == "iam"

    def to_dict(self, *, include_password: bool = False) -> dict[str, Any]:
        """A JSON-able dict for Spark executors; the password only when asked for (never for logs)."""
        out = asdict(self)
        if not include_password:
            out.pop("password")
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DsqlTarget:
        """Rebuild a target from `to_dict()` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"DsqlTarget.from_dict: unknown keys {sorted(unknown)}")
        return cls(**raw)

    def redacted(self) -> str:
        """repr() with the password masked, for log lines and error messages."""
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "password"]
        parts.append(f"password={'***' if self.password else None!r}")
        return f"DsqlTarget({', '.join(parts)})"


def auth_token(target: DsqlTarget, session: boto3.session.Session | None = None) -> str:
    """A fresh IAM auth token (a SigV4-presigned URL) to use as the password.

    Signed locally, no network call. The `admin` role needs the admin variant; every other role the
    plain one. Pass `session` to use specific credentials (the Airflow hook passes the AWS connection's).
    """
    if target.auth != "iam":
        raise ValueError(f"auth_token: target uses auth={target.auth!r}, not 'iam'")
    if session is None:
        import boto3  # local: password-only users (tests, the stand-in) do not need boto3

        session = boto3.session.Session()
    client = session.client("dsql", region_name=target.region)
    generate = (client.generate_db_connect_admin_auth_token if target.user == "admin"
                else client.generate_db_connect_auth_token)
    return str(generate(Hostname=target.host, Region=target.region, ExpiresIn=target.token_expires_s))


def connect(target: DsqlTarget, *, autocommit: bool = False,
            session: boto3.session.Session | None = None) -> psycopg.Connection[Any]:
    """Open a psycopg 3 connection: the stored password or a fresh IAM token, and the target's TLS mode."""
    password = target.password if target.auth == "password" else auth_token(target, session)
    kwargs: dict[str, Any] = {}
    if target.sslmode in ("verify-ca", "verify-full"):
        kwargs["sslrootcert"] = target.sslrootcert or "system"
    return psycopg.connect(
        host=target.host, port=target.port, user=target.user, dbname=target.database, password=password,
        sslmode=target.sslmode, application_name=APPLICATION_NAME, connect_timeout=target.connect_timeout_s,
        autocommit=autocommit, **kwargs,
    )


class RecyclingConnection:
    """Hands out a live connection, replacing it once it is older than `max_connection_age_s` or closed.

    DSQL ends connections after an hour, and long Spark partitions outlive that. Call `get()` at the
    start of every transaction: a connection in the middle of a transaction is never swapped out.
    """

    def __init__(self, target: DsqlTarget, *, autocommit: bool = False,
                 session: boto3.session.Session | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.autocommit = autocommit
        self.session = session
        self.clock = clock
        self.connects = 0  # how many connections were opened, for logs and tests
        self._conn: psycopg.Connection[Any] | None = None
        self._opened_at = 0.0

    @property
    def age_s(self) -> float:
        """Seconds since the current connection was opened (0 when there is none)."""
        return self.clock() - self._opened_at if self._conn is not None else 0.0

    def _usable(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return False
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        return not (idle and self.age_s >= self.target.max_connection_age_s)

    def get(self) -> psycopg.Connection[Any]:
        """The current connection, or a new one when it is too old (and idle), closed or broken."""
        if not self._usable():
            self.close()
            self._conn = connect(self.target, autocommit=self.autocommit, session=self.session)
            self._opened_at = self.clock()
            self.connects += 1
        assert self._conn is not None
        return self._conn

    def close(self) -> None:
        """Close the current connection, if any; `get()` opens a new one afterwards."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RecyclingConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_occ_conflict(exc: BaseException) -> bool:
    """True for DSQL's optimistic-concurrency failures (SQLSTATE 40001, OC000 data / OC001 schema)."""
    return isinstance(exc, psycopg.Error) and exc.sqlstate == OCC_SQLSTATE


# The server ended the session (admin shutdown, crash shutdown, cannot accept connections right now).
_SESSION_ENDED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_connection_lost(exc: BaseException) -> bool:
    """True when the connection broke or could not be opened: the network or the server went away (psycopg
    reports no SQLSTATE, or class 08), or the server ended the session (57P01 admin shutdown, 57P02, 57P03).

    A transaction cut off this way did not commit, or if COMMIT itself was cut off it may have: replaying
    an upsert then writes the same values again, so retrying on a new connection is safe. A connection
    attempt that fails (refused, timed out, rejected token) also has no SQLSTATE and is retried too.
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _SESSION_ENDED_SQLSTATES


def table_exists(conn: Any, schema: str, table: str) -> bool:
    """Whether `schema.table` exists (a dry run before the first DDL deployment has no tables)."""
    name = psycopg.sql.Identifier(schema, table).as_string(conn)
    return conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0] is not None


def run_with_retry(fn: Callable[[], T], *, attempts: int = 6, base_delay_s: float = 0.05,
                   max_delay_s: float = 5.0, sleep: Callable[[float], None] = time.sleep,
                   on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """Call `fn()`; on an OCC conflict or a lost connection wait (exponential backoff, full jitter) and call it
    again.

    DSQL reports conflicts at COMMIT and expects the whole transaction to be replayed, so `fn` must
    run one complete transaction (get a connection, write, commit) per call; after a lost connection its
    next call must get a new one (`RecyclingConnection.get()` does). Other errors are raised at once; the
    last one is raised when `attempts` calls have failed. `on_retry(attempt, exc, delay_s)` is called
    before each wait, e.g. to log.
    """
    return retry(fn, retryable=lambda exc: isinstance(exc, psycopg.Error) and (
        is_occ_conflict(exc) or is_connection_lost(exc)), attempts=attempts, base_delay_s=base_delay_s,
        max_delay_s=max_delay_s, sleep=sleep, on_retry=on_retry)
