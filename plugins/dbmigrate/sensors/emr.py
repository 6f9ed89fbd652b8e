"""The provider's EMR step sensor, logging where on-call can watch the step before it waits."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

CONSOLE_URL = "https://{region}.console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{cluster}"


class LoggedEmrStepSensor(EmrStepSensor):
    """`EmrStepSensor` that first logs the step's state and the cluster's console link.

    The deferred wait (`EmrStepSensorTrigger`) then logs the step state at every poll.
    """

    def execute(self, context: Any) -> None:
        hook = self.hook
        step = hook.conn.describe_step(ClusterId=self.job_flow_id, StepId=self.step_id)["Step"]
        self.log.info("EMR step %s (%s) on cluster %s is %s; console: %s", self.step_id, step.get("Name"),
                      self.job_flow_id, step["Status"]["State"],
                      CONSOLE_URL.format(region=hook.conn_region_name, cluster=self.job_flow_id))
        super().execute(context)
