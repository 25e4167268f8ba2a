"""What every product's rows share: the team workload (desired state, generation, approval,
timestamps) and its timeline event. Abstract: each product keeps its own table."""

import uuid

from django.conf import settings
from django.db import models

from deployments.workloads.choices import DesiredState


def unique_live_name(constraint: str) -> models.UniqueConstraint:
    """(team, name) is unique among the rows not deleted: a deleted one frees its name."""
    return models.UniqueConstraint(
        fields=["team", "name"], condition=~models.Q(status="deleted"), name=constraint
    )


class TeamWorkload(models.Model):
    """A team's request the tasks push to the cluster (STYLE §4): the person sets
    `desired_state` and bumps `generation`; the apply records `applied_generation`.

    A product adds `team` (with its related name), `name`, `status` (its own choices) and
    `final_statuses` (its statuses after which the UI stops polling).
    """

    final_statuses: frozenset = frozenset()

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    desired_state = models.CharField(
        max_length=10, choices=DesiredState.choices, default=DesiredState.PRESENT
    )
    generation = models.PositiveIntegerField(default=1)
    applied_generation = models.PositiveIntegerField(default=0)
    status_message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["team__name", "name"]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"

    @property
    def is_final(self) -> bool:
        return self.status in self.final_statuses

    @property
    def namespace(self) -> str:
        return self.team.namespace


class WorkloadEvent(models.Model):
    """One line of a workload's timeline; a product adds the foreign key to its row, `kind`,
    `old_status` and `new_status` (its own choices)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    message = models.TextField(blank=True)
    generation = models.PositiveIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
