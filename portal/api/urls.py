"""/api/v1/: every app's router under one prefix."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from deployments.api.engine_views import EndpointManifestsView, SizingView

from .metrics_views import EndpointMetricsView
from .views import TeamViewSet

teams_router = SimpleRouter()
teams_router.register("teams", TeamViewSet, basename="team")

urlpatterns = [
    path("endpoints/<uuid:uuid>/metrics/", EndpointMetricsView.as_view(), name="endpoint-metrics"),
    path(
        "endpoints/<uuid:uuid>/manifests/",
        EndpointManifestsView.as_view(),
        name="endpoint-manifests",
    ),
    path("sizing/", SizingView.as_view(), name="sizing"),
    path("", include("deployments.api.urls")),
    path("", include("billing.api.urls")),
    path("", include(teams_router.urls)),
]
