"""Clients shared by the Airflow hooks and the Spark/Glue jobs (boto3, psycopg, pymongo; no Airflow)."""

from connectors.python_workers import seal_zip_archives

seal_zip_archives()  # a PySpark worker importing the first job function: its zip archives are read once
