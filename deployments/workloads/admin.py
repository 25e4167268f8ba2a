"""What every product's Django admin shares: bulk actions through the product's services (never
by editing rows), each row on its own, a row's domain error said next to it."""

from django.contrib import messages

from deployments.workloads.errors import DeploymentError
from portal.models import AuditLog


class WorkloadActionsMixin:
    """Mix into a ModelAdmin; `noun` names the rows in the messages ("endpoint(s)")."""

    noun = "workload"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes through the cluster: an action
        return actions

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    def run_each(self, request, queryset, func, verb: str, **kwargs) -> None:
        """Call `func(row, user, source=ADMIN, **kwargs)` for each selected row; say how many
        were done ("Approved 2 endpoint(s).") and why the others were not."""
        done, failed = 0, []
        for obj in queryset.select_related("team"):
            try:
                func(obj, request.user, source=AuditLog.Source.ADMIN, **kwargs)
                done += 1
            except DeploymentError as exc:
                failed.append(f"{obj}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} {done} {self.noun}(s).", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)
