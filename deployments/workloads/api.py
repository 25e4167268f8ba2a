"""What every product's REST API shares (STYLE §8): domain errors as HTTP answers
(`call_service`) and the team-scoped viewset of a workload (`TeamWorkloadViewSet`: list and
get through portal.access, request and delete through the product's services, 202 with the
row as stored)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from deployments.workloads.errors import DeploymentError, InvalidTransition, SelfApproval
from portal.access import TeamObjectPermission, can_admin, can_write, scope_to_user
from portal.models import AuditLog

API = AuditLog.Source.API


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The endpoint is not in a state that allows this."
    default_code = "conflict"


def call_service(func, *args, **kwargs):
    """Run a service; domain errors become 400 (bad input / quota) or 409 (wrong state)."""
    try:
        return func(*args, **kwargs)
    except InvalidTransition as exc:
        raise Conflict(exc.message) from exc
    except SelfApproval as exc:
        raise PermissionDenied(exc.message) from exc
    except DeploymentError as exc:
        raise serializers.ValidationError({exc.field or "non_field_errors": [exc.message]}) from exc
    except DjangoValidationError as exc:
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        raise serializers.ValidationError(detail) from exc


def require_decider(user, workload) -> None:
    """Only the team's admins and platform staff decide on requests (approve, reject)."""
    if not can_admin(user, workload.team):
        raise PermissionDenied("Only team admins and platform staff can decide on requests.")


class TeamWorkloadViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A product sets `model`, `plural` ("batch jobs"), `serializer_class`, and says how to
    request and delete one (`request_workload`, `delete_workload`, its services) and what the
    serializer reads (`with_related`)."""

    permission_classes = [IsAuthenticated, TeamObjectPermission]
    lookup_field = "uuid"
    model = None
    plural = ""

    def with_related(self, qs):
        return qs

    def request_workload(self, team, user, data, source):
        raise NotImplementedError

    def delete_workload(self, obj, user, source):
        raise NotImplementedError

    def get_queryset(self):
        scoped = scope_to_user(self.model.objects.all(), self.request.user)
        return self.with_related(scoped).order_by("team__slug", "name")

    def accepted(self, obj) -> Response:
        """202 with the row as stored now, read again with what the serializer needs."""
        obj = self.with_related(self.model.objects.all()).get(pk=obj.pk)
        return Response(self.get_serializer(obj).data, status=status.HTTP_202_ACCEPTED)

    def created(self, obj, serializer) -> Response:
        """The answer to a create: the row read again (a product whose service returns the row
        with every related row loaded may answer it as is)."""
        return self.accepted(obj)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = serializer.validated_data.pop("team")
        if not can_write(request.user, team):
            raise PermissionDenied(f"Viewers cannot request {self.plural}.")
        data = serializer.validated_data
        obj = call_service(self.request_workload, team, request.user, data, API)
        return self.created(obj, serializer)

    def act(self, func, *args, decide: bool = False, **kwargs) -> Response:
        """A person's action on the row (a day-2 change, or with `decide` an approval or a
        rejection): the service, then 202 with the row as stored."""
        obj = self.get_object()
        if decide:
            require_decider(self.request.user, obj)
        return self.accepted(
            call_service(func, obj, self.request.user, *args, source=API, **kwargs)
        )

    def destroy(self, request, *args, **kwargs):
        return self.accepted(
            call_service(self.delete_workload, self.get_object(), request.user, API)
        )
