"""Choices every product shares."""

from django.db import models


class DesiredState(models.TextChoices):
    """What a person wants of a workload; the tasks make the cluster match it."""

    PRESENT = "present", "Present"
    STOPPED = "stopped", "Stopped"
    ABSENT = "absent", "Absent"
