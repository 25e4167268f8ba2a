"""Background steps for endpoints. Interim version: records the apply; the deployments
engine (manifests + server-side apply on the cluster) replaces the body of `apply_endpoint`."""

import logging

from celery import shared_task

from .choices import DesiredState, EndpointStatus, EventKind
from .models import Endpoint
from .services import record_observed

log = logging.getLogger(__name__)


@shared_task(name="deployments.apply_endpoint", acks_late=True, max_retries=10)
def apply_endpoint(endpoint_id: int, generation: int) -> str:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.generation != generation:
        log.info("endpoint=%s generation=%s is stale; nothing to do", endpoint_id, generation)
        return "stale"
    updated = Endpoint.objects.filter(pk=endpoint_id, generation=generation).update(
        applied_generation=generation
    )
    if not updated:
        return "stale"
    target = {
        DesiredState.PRESENT: EndpointStatus.PROVISIONING,
        DesiredState.STOPPED: EndpointStatus.STOPPED,
        DesiredState.ABSENT: EndpointStatus.DELETED,
    }[endpoint.desired_state]
    record_observed(endpoint_id, target, "Applied.", generation=generation, kind=EventKind.STATUS)
    return "applied"


@shared_task(name="deployments.sync_statuses", acks_late=True)
def sync_statuses() -> int:
    return 0
