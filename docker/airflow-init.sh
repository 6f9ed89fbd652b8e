#!/usr/bin/env bash
# One-shot, as root (as the official compose file's airflow-init): the folders the Airflow containers share, their
# one airflow.cfg, the admin login of the simple auth manager, and the metadata DB (_AIRFLOW_DB_MIGRATE=true makes
# the image's entrypoint run `airflow db migrate`). Everything is handed to the Airflow user, AIRFLOW_UID:0.
set -euo pipefail
uid="${AIRFLOW_UID:-50000}"
mkdir -p /opt/airflow/config /opt/airflow/logs \
         /opt/airflow/runs/reports /opt/airflow/runs/quarantine /opt/airflow/runs/data
# admin / admin (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin); the file must stay writable
echo '{"admin": "admin"}' > /opt/airflow/config/simple_auth_manager_passwords.json
# One airflow.cfg for every container (AIRFLOW_CONFIG points into the shared volume), written once.
/entrypoint airflow config list >/dev/null
chown -R "${uid}:0" /opt/airflow/config /opt/airflow/logs /opt/airflow/runs
echo "Airflow version and metadata DB migration:"
exec /entrypoint airflow version
