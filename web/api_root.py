"""`GET /api/v1/`: every resource group of the API, one link each (each app's router root
would list only its own groups, and the first one included would answer)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

# (key, URL name): the collections, then the cost reports that are one document each.
GROUPS = (
    ("models", "catalogmodel-list"),
    ("gpu-types", "gputype-list"),
    ("endpoints", "endpoint-list"),
    ("approvals", "approval-list"),
    ("batch-jobs", "batch-job-list"),
    ("routes", "route-list"),
    ("teams", "team-list"),
    ("chargeback/usage", "usagerecord-list"),
    ("chargeback/statements", "statement-list"),
    ("chargeback/platform", "chargeback-platform"),
)


class ApiRootView(APIView):
    @extend_schema(exclude=True)
    def get(self, request, format=None):
        return Response(
            {key: request.build_absolute_uri(reverse(name)) for key, name in GROUPS}
            | {"schema": request.build_absolute_uri(reverse("api-schema"))}
        )
