from django.urls import path
from rest_framework.routers import DefaultRouter

from deployments.batch.api.views import BatchJobViewSet
from deployments.endpoints.api import views
from deployments.endpoints.api.engine_views import EndpointManifestsView, SizingView
from deployments.endpoints.api.metrics_views import EndpointMetricsView

router = DefaultRouter()
router.register("endpoints", views.EndpointViewSet, basename="endpoint")
router.register("approvals", views.ApprovalViewSet, basename="approval")
router.register("batch-jobs", BatchJobViewSet, basename="batch-job")
urlpatterns = [
    path("endpoints/<uuid:uuid>/metrics/", EndpointMetricsView.as_view(), name="endpoint-metrics"),
    path(
        "endpoints/<uuid:uuid>/manifests/",
        EndpointManifestsView.as_view(),
        name="endpoint-manifests",
    ),
    path("sizing/", SizingView.as_view(), name="sizing"),
    *router.urls,
]
