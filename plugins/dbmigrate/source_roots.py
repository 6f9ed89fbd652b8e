"""Where a run may read its source from: a `source_uri` param must resolve inside an allowed root.

Without this, `file:///allowed/../../etc/passwd` (or any S3 object the EMR role can read) would be read,
every line quarantined with its full text. The roots are `DBMIGRATE_SOURCE_ROOTS` (comma-separated), else
the Airflow Variable `dbmigrate_source_roots`, else the spec's own source locations plus, on the embedded
stack, `$LOCAL_DATA_DIR` and the system temp directory. A root is a local directory (path or `file://`), an
S3 prefix (`s3://bucket/prefix/`) or a MongoDB host (`mongodb://host:port`, `mongodb+srv://host`).

Whatever the roots, `$AIRFLOW_HOME` and the embedded stack's own directory (`$LOCAL_STACK_DIR`: its
passwords) are never sources, except for a root that lies strictly inside them (the stack's data directory):
a checkout under the temp directory would otherwise put them inside the temp-directory root.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ENV = "DBMIGRATE_SOURCE_ROOTS"
VARIABLE = "dbmigrate_source_roots"


class SourceOutsideRoots(ValueError):
    """A source location outside every allowed root."""


def parse_roots(text: str | None) -> list[str]:
    """The roots of a comma-separated list (blank entries ignored)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _local(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    return None


def _mongo_hosts(uri: str) -> set[str]:
    netloc = urlparse(uri).netloc.rsplit("@", 1)[-1].lower()
    return {h if ":" in h or uri.startswith("mongodb+srv") else f"{h}:27017" for h in netloc.split(",") if h}


def _inside(uri: str, root: str) -> bool:
    path, root_path = _local(uri), _local(root)
    if path is not None or root_path is not None:
        if path is None or root_path is None:
            return False
        return path.resolve().is_relative_to(root_path.resolve())  # after `..` and symlinks
    scheme, root_scheme = urlparse(uri).scheme, urlparse(root).scheme
    if scheme != root_scheme:
        return False
    if scheme == "s3":
        bucket, key = urlparse(uri).netloc, urlparse(uri).path.lstrip("/")
        root_bucket, prefix = urlparse(root).netloc, urlparse(root).path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return bucket == root_bucket and key.startswith(prefix)
    if scheme in ("mongodb", "mongodb+srv"):
        return _mongo_hosts(uri) <= _mongo_hosts(root)
    return False


def private_dirs() -> list[str]:
    """Directories never read as a source: the Airflow home and the embedded stack's state directory."""
    return [d for d in (os.environ.get("AIRFLOW_HOME"), os.environ.get("LOCAL_STACK_DIR")) if d]


def _strictly_inside(root: str, directory: str) -> bool:
    path = _local(root)
    return path is not None and _inside(root, directory) and path.resolve() != Path(directory).resolve()


# The folders a run's own tasks make (`dbmigrate.operators.spark_job`: a job's password files, staged spec and
# bundle): never a source, whatever the roots say (the system temp folder is a root on the embedded stack).
JOB_DIR, STAGE_DIR = "dbmigrate-job-", "dbmigrate-stage-"
JOB_DIR_PREFIXES = (JOB_DIR, STAGE_DIR)


def check_confined(uri: str, roots: list[str]) -> None:
    """Raise `SourceOutsideRoots` unless `uri` lies inside one of `roots` and in no folder of a run's own."""
    path = _local(uri)
    if path is not None and any(part.startswith(JOB_DIR_PREFIXES) for part in path.resolve().parts):
        raise SourceOutsideRoots(f"source {uri} lies in a folder a migration job keeps its own files in (password "
                                 "files, staging): never a source")
    if urlparse(uri).scheme == "s3" and any(seg in (".", "..") for seg in urlparse(uri).path.split("/")):
        raise SourceOutsideRoots(f"source {uri} has a `.` or `..` segment: S3 keys are never normalised, "
                                 "name the object itself")
    for private in private_dirs():
        if _inside(uri, private) and not any(_strictly_inside(root, private) and _inside(uri, root) for root in roots):
            raise SourceOutsideRoots(f"source {uri} is outside the allowed source roots: it lies in {private}, "
                                     "which holds Airflow's or the embedded stack's own state and secrets")
    if not any(_inside(uri, root) for root in roots):
        raise SourceOutsideRoots(f"source {uri} is outside the allowed source roots {roots}; add its location to "
                                 f"{ENV} (or the Airflow Variable {VARIABLE}) if it should be read")


def check_files_confined(uri: str, roots: list[str], collections: tuple[str, ...] = ()) -> None:
    """`check_confined` for `uri` and, when it is a local directory, for every file in it the job would read
    (`connectors.documents.list_files`, of each collection's export with `collections`): a symlink inside an
    allowed directory may point anywhere."""
    check_confined(uri, roots)
    path = _local(uri)
    if path is not None and path.is_dir():
        from connectors.documents import collection_sources, list_files

        sources = collection_sources(uri, collections) if collections else [(None, uri)]
        for _, source in sources:
            check_confined(source, roots)
            for file, _ in list_files(source):
                check_confined(file, roots)


def default_roots(spec: Any, profile: str) -> list[str]:
    """The spec's own source locations, and on the embedded stack its data and temp directories."""
    from transforms.spec_common import expand_env

    local = expand_env(spec.local_source_uri)
    roots = [spec.source_uri, posixpath.dirname(urlparse(local).path) if local.startswith("file:") else local]
    if profile == "local":
        roots += [d for d in (os.environ.get("LOCAL_DATA_DIR"), tempfile.gettempdir()) if d]
    return roots


def configured_roots(spec: Any, profile: str) -> list[str]:
    """`DBMIGRATE_SOURCE_ROOTS`, else the Variable `dbmigrate_source_roots`, else `default_roots` (read at run time)."""
    roots = parse_roots(os.environ.get(ENV))
    if not roots:
        from airflow.sdk import Variable

        roots = parse_roots(Variable.get(VARIABLE, default=None))
    return roots or default_roots(spec, profile)
