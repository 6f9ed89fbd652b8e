"""Clients shared by the Airflow hooks and the Spark/Glue jobs (boto3, psycopg, pymongo; no Airflow)."""
