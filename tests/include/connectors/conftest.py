"""The DSQL stand-in (the embedded PostgreSQL) as the connectors see a DSQL target."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from connectors.dsql import DsqlTarget


def target_from_uri(uri: str) -> DsqlTarget:
    """A password-authenticated target for a PostgreSQL URI (the stand-in takes no IAM token)."""
    parts = urlsplit(uri)
    return DsqlTarget(host=parts.hostname or "", port=parts.port or 5432, user=unquote(parts.username or ""),
                      database=parts.path.lstrip("/"), auth="password", password=unquote(parts.password or ""),
                      sslmode="disable")


@pytest.fixture
def target(dsql_uri: str) -> DsqlTarget:
    return target_from_uri(dsql_uri)
