"""Airflow hook for the live MongoDB source, as the job reaches it (`connectors.mongo_source`): the run's
`source_uri` with the credentials of the spec's Secrets Manager secret, fetched with the AWS connection."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

import dbmigrate  # noqa: F401 - puts include/ on sys.path for `connectors`
from connectors.mongo_source import open_database, secret_region


class MongoSourceHook(AwsBaseHook):
    """Open the MongoDB database a run migrates, with the job's credentials.

    :param aws_conn_id: AWS connection whose credentials read the secret. Default `aws_default`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "secretsmanager"
        super().__init__(*args, **kwargs)

    def get_database(self, source_uri: str, default_database: str, secret_arn: str | None) -> Any:
        """The pymongo Database of `source_uri` (its database, else `default_database`), logged in with the secret.

        .. seealso::
            - :external+boto3:py:meth:`SecretsManager.Client.get_secret_value`
        """
        client = self.get_client_type(region_name=secret_region(secret_arn)) if secret_arn else None
        return open_database(source_uri, default_database, secret_arn, client)
