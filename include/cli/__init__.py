"""Commands users run from the project root (`bin/dbmigrate`): not shipped to Airflow, EMR or Glue."""
