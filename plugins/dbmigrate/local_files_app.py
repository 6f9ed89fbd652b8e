"""Serve a local run's report and quarantine over HTTP, so the report task's extra links open in the UI.

On AWS those links lead to the S3 console. On the embedded stack reports and quarantine are local files,
which a browser will not open from an http page, so the API server mounts this read-only app at
`/dbmigrate` (see `dbmigrate.plugin`). It serves only under `LOCAL_REPORTS_DIR` and the local
`DBMIGRATE_QUARANTINE_URI`, and only when the compute profile is `local`; everything else is a 404. Like every
other route of the API server it needs a signed-in user (Airflow's JWT, the UI's cookie or a bearer token). A
quarantine is served as one `.jsonl` file, empty when the run rejected nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, Response

URL_PREFIX = "/dbmigrate"
app = FastAPI(title="dbmigrate: local run files", docs_url=None, redoc_url=None, openapi_url=None)


def roots() -> dict[str, Path]:
    """The folders this app may serve, by the first segment of its URLs."""
    from connectors.storage import local_path

    found: dict[str, Path] = {}
    if os.environ.get("DBMIGRATE_PROFILE") != "local":
        return found
    if os.environ.get("LOCAL_REPORTS_DIR"):
        found["reports"] = Path(os.environ["LOCAL_REPORTS_DIR"]).resolve()
    quarantine = local_path(os.environ.get("DBMIGRATE_QUARANTINE_URI", "s3://"))
    if quarantine is not None:
        found["quarantine"] = quarantine.resolve()
    return found


def url_path(uri: str) -> str | None:
    """The path under `URL_PREFIX` that serves the local file or folder `uri`; None if not servable."""
    from connectors.storage import local_path

    path = local_path(uri)
    if path is None:
        return None
    path = path.resolve()
    for name, root in roots().items():
        if path.is_relative_to(root):
            return f"{URL_PREFIX}/{name}/{path.relative_to(root).as_posix()}"
    return None


async def signed_in(request: Request) -> None:
    """Airflow's own `get_user` (a JWT from a bearer header or the UI's cookie; 401 without), imported here: at
    module level it costs ~2 s in every process that loads the plugin (scheduler, DAG processor, each task)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    await get_user(request, oauth_token=None, bearer_credentials=bearer)


@app.get("/{root}/{path:path}", dependencies=[Depends(signed_in)])
def read(root: str, path: str) -> Response:
    base = roots().get(root)
    target = (base / path).resolve() if base is not None else None
    if target is None or not target.is_relative_to(base) or target == base:
        raise HTTPException(status_code=404)
    if root == "quarantine" and (target.is_dir() or not target.exists()):
        # a run's quarantine: Spark's JSON-lines part files and the jobs' .jsonl files, as one file; a run that
        # rejected nothing may have written no folder at all: an empty quarantine, not a missing page
        parts = sorted(p for p in target.rglob("*") if p.is_file() and (p.name.startswith("part-")
                                                                         or p.suffix == ".jsonl"))
        name = "-".join(target.relative_to(base).parts) or "quarantine"
        return Response(b"".join(p.read_bytes() for p in parts), media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'inline; filename="{name}.jsonl"'})
    if not target.exists() or target.is_dir():
        raise HTTPException(status_code=404)
    return FileResponse(target, media_type="application/json" if target.suffix == ".json" else None)
