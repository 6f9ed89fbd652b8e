"""Pure Python/PySpark transforms: no Airflow, no boto3; shipped to EMR and Glue."""
