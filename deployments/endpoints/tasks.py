"""Background steps for endpoints: load -> call -> record lives in deployments.endpoints.reconcile
(the retry and acks_late rules are deployments.workloads.tasks')."""

from deployments.endpoints import reconcile
from deployments.endpoints.names import APPLY_ENDPOINT, SYNC_STATUSES
from deployments.workloads.tasks import lifecycle_tasks

apply_endpoint, sync_statuses = lifecycle_tasks(
    APPLY_ENDPOINT, reconcile.apply_endpoint, SYNC_STATUSES, reconcile.sync_statuses
)
