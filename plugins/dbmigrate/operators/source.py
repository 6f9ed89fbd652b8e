"""Fail fast, before any DDL or cluster time, when the source a run would read is not allowed or not there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from connectors.documents import SourceLayoutError, is_mongo, iter_lines
from connectors.storage import local_path
from dbmigrate import run_files, runtime, source_roots


class CheckMongoSourceOperator(BaseOperator):
    """Check that the run's source (resolved by the first task) is allowed, can be read and holds documents.

    The source must lie inside the allowed roots (`dbmigrate.source_roots`: after `..` and symlinks); a
    mongoexport file must exist and hold at least one line; a live collection must answer a ping and hold
    documents. Nothing a retry could fix, so every failure is final (`AirflowFailException`).

    :param spec_dag_id: the migration spec: database and collection of a live source (templated)
    :param source_uri: the resolved source: file://, s3:// or mongodb:// (templated)
    :param aws_conn_id: AWS connection (s3:// sources)
    :param spec_uri: the run's copy of its spec (`runtime.stage_spec`; None: the deployed spec) (templated)
    :param profile: the run's profile, as `prepare.resolve_run` decided it (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_uri", "spec_uri", "profile")

    def __init__(self, *, spec_dag_id: str, source_uri: str, aws_conn_id: str | None = "aws_default",
                 profile: str, spec_uri: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.spec_uri = spec_uri
        self.profile = profile
        self.source_uri = source_uri
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> str:
        uri = self.source_uri
        spec = runtime.run_spec({"spec_uri": self.spec_uri}, self.spec_dag_id, self.aws_conn_id)
        roots = source_roots.configured_roots(spec, self.profile)
        try:
            source_roots.check_files_confined(uri, roots, spec.source_collections)
        except (source_roots.SourceOutsideRoots, SourceLayoutError) as err:
            raise AirflowFailException(str(err)) from err
        if is_mongo(uri):
            from dbmigrate.hooks.mongo_source import MongoSourceHook

            try:  # the cluster, database and credentials the job will read
                database = MongoSourceHook(aws_conn_id=self.aws_conn_id).get_database(
                    uri, spec.source_database, spec.source_secret_arn)
            except ValueError as err:
                raise AirflowFailException(str(err)) from err
            database.client.admin.command("ping")
            for name in spec.collections:
                n = database[name].estimated_document_count()
                if n == 0:
                    raise AirflowFailException(f"{database.name}.{name} holds no documents")
                self.log.info("Source collection %s.%s holds ~%d documents", database.name, name, n)
            return uri
        path = local_path(uri)
        if path is not None and not path.exists():
            raise AirflowFailException(f"source file {path} does not exist")
        s3 = run_files.s3_client(uri, self.aws_conn_id)
        try:
            first = next(iter_lines(uri, s3_client=s3, collections=spec.source_collections), None)
        except Exception as err:  # NoSuchKey, AccessDenied, an unreadable file: a retry will not change it
            raise AirflowFailException(f"source {uri} cannot be read: {err}") from err
        if first is None:
            raise AirflowFailException(f"source {uri} holds no documents")
        self.log.info("Source %s is readable", uri)
        return uri
