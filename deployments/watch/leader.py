"""Leader election through a coordination.k8s.io Lease, the way client-go does it.

Every replica calls `try_lead()` every `retry_seconds`. The holder renews the Lease (one
compare-and-set write at the resourceVersion it last wrote); the others read it and take it
only once its record (holder, renewTime) has not changed for `leaseDurationSeconds` *by their
own clock* (no replica compares its clock with another's). A holder that could not renew
for `renew_deadline` stops leading before anyone else may take over. `release()` on a clean
shutdown hands the Lease over at once.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from deployments.k8s import LEASE_API, ClusterClient
from deployments.workloads.errors import TransientClusterError

log = logging.getLogger(__name__)


def micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    def __init__(
        self,
        client: ClusterClient,
        name: str,
        namespace: str,
        identity: str,
        lease_seconds: int,
        clock=time.monotonic,
    ):
        if lease_seconds < 3:
            raise ValueError("lease_seconds must be at least 3 (renewed every third of it)")
        self.client, self.name, self.namespace = client, name, namespace
        self.identity, self.lease_seconds, self.clock = identity, lease_seconds, clock
        self.retry_seconds = lease_seconds / 3
        self.renew_deadline = lease_seconds * 2 / 3
        self._lease: dict[str, Any] | None = None  # what we last wrote (while we hold it)
        self._observed: tuple | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at: float | None = None

    @property
    def leading(self) -> bool:
        return (
            self._renewed_at is not None and self.clock() - self._renewed_at < self.renew_deadline
        )

    def try_lead(self) -> bool:
        """Take or renew the Lease; True while this replica may act as the leader."""
        try:
            stored = self._renew() if self._lease is not None else None
            if stored is None:
                stored = self._acquire()
        except TransientClusterError as exc:
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return self.leading
        if stored is None:
            self._lease, self._renewed_at = None, None
            return False
        self._lease, self._renewed_at = stored, self.clock()
        return True

    def _renew(self) -> dict[str, Any] | None:
        lease = {**self._lease, "spec": {**self._lease["spec"]}}
        lease["spec"]["renewTime"] = micro_time(datetime.now(UTC))
        return self.client.write_lease(lease)

    def _acquire(self) -> dict[str, Any] | None:
        lease = self.client.get_lease(self.name, self.namespace)
        now = datetime.now(UTC)
        if lease is None:
            return self.client.write_lease(
                {
                    "apiVersion": LEASE_API,
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(now, now, 0),
                }
            )
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock()
        duration = spec.get("leaseDurationSeconds") or self.lease_seconds
        if holder and holder != self.identity and self.clock() - self._observed_at < duration:
            return None  # held by a live replica
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != self.identity:
            log.info("lease %s/%s: taking it over from %r", self.namespace, self.name, holder)
            acquired, transitions = now, transitions + 1
        else:
            acquired = spec.get("acquireTime") or now
        lease["spec"] = self._spec(acquired, now, transitions)
        return self.client.write_lease(lease)

    def _spec(self, acquired, now: datetime, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": acquired if isinstance(acquired, str) else micro_time(acquired),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    def release(self) -> None:
        """Give the Lease up (a clean shutdown): the next replica need not wait it out."""
        if self._lease is None:
            return
        lease = {**self._lease, "spec": {**self._lease["spec"]}}
        lease["spec"].update(holderIdentity="", leaseDurationSeconds=1)
        try:
            self.client.write_lease(lease)
        except TransientClusterError as exc:
            log.warning("lease %s/%s: not released: %s", self.namespace, self.name, exc)
        self._lease, self._renewed_at = None, None
