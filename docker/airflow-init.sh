#!/usr/bin/env bash
# One-shot: the folders the runs write to (owned by the Airflow user), the metadata DB, the admin login.
set -euo pipefail
mkdir -p /opt/airflow/runs/reports /opt/airflow/runs/quarantine /opt/airflow/runs/data /opt/airflow/logs
chown -R "${AIRFLOW_UID:-50000}:0" /opt/airflow/runs /opt/airflow/logs
echo '{"admin": "admin"}' > /opt/airflow/simple_auth_manager_passwords.json
chown "${AIRFLOW_UID:-50000}:0" /opt/airflow/simple_auth_manager_passwords.json
exec /entrypoint airflow version
