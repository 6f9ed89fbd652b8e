"""Fail fast, before any DDL or cluster time, when the source a run would read is not there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from connectors.documents import is_mongo, iter_lines
from connectors.storage import local_path
from dbmigrate import runtime


class CheckMongoSourceOperator(BaseOperator):
    """Resolve the run's source (param `source_uri`, else the spec's) and check it can be read.

    A mongoexport file must exist and hold at least one document; a live collection must answer a ping
    and hold documents. Returns the resolved URI for the tasks after it.

    :param spec_dag_id: the migration spec (templated)
    :param source_uri: override of the spec's source; empty for the spec's (templated)
    :param mongo_conn_id: Airflow connection of the MongoDB cluster (mongodb:// sources)
    :param aws_conn_id: AWS connection (s3:// sources)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_uri")

    def __init__(self, *, spec_dag_id: str, source_uri: str = "", mongo_conn_id: str = "mongo_default",
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.source_uri = source_uri
        self.mongo_conn_id = mongo_conn_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> str:
        spec = runtime.spec_for(self.spec_dag_id)
        uri = (self.source_uri or "").strip() or runtime.source_uri(spec, context["params"])
        if is_mongo(uri):
            from airflow.providers.mongo.hooks.mongo import MongoHook

            client = MongoHook(mongo_conn_id=self.mongo_conn_id).get_conn()
            client.admin.command("ping")
            n = client[spec.source_database][spec.source_collection].estimated_document_count()
            if n == 0:
                raise AirflowFailException(f"{spec.source_database}.{spec.source_collection} holds no documents")
            self.log.info("Source collection %s.%s holds ~%d documents", spec.source_database,
                          spec.source_collection, n)
            return uri
        path = local_path(uri)
        if path is not None and not path.exists():
            raise AirflowFailException(f"source file {path} does not exist")
        if path is None and not uri.startswith("s3://"):
            raise AirflowFailException(f"unsupported source URI {uri!r}: use file://, s3:// or mongodb://")
        if path is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            bucket, key = S3Hook.parse_s3_url(uri)
            if not S3Hook(aws_conn_id=self.aws_conn_id).check_for_key(key, bucket_name=bucket):
                raise AirflowFailException(f"source object {uri} does not exist")
        first = next(iter_lines(uri), None)
        if first is None:
            raise AirflowFailException(f"source {uri} holds no documents")
        self.log.info("Source %s is readable", uri)
        return uri
