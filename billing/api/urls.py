from django.urls import path
from rest_framework.routers import DefaultRouter

from . import advisor_views, tiering_views, views

router = DefaultRouter()
router.register("chargeback/usage", views.UsageRecordViewSet, basename="usagerecord")
router.register("chargeback/statements", views.StatementViewSet, basename="statement")
urlpatterns = [
    path("chargeback/teams/<slug:slug>/", views.TeamCostsView.as_view(), name="chargeback-team"),
    path(
        "chargeback/teams/<slug:slug>/savings/",
        advisor_views.TeamSavingsView.as_view(),
        name="savings-team",
    ),
    path(
        "chargeback/teams/<slug:slug>/savings/dismiss/",
        advisor_views.DismissSavingView.as_view(),
        name="savings-dismiss",
    ),
    path(
        "endpoints/<uuid:uuid>/savings/",
        advisor_views.EndpointSavingsView.as_view(),
        name="savings-endpoint",
    ),
    path(
        "chargeback/teams/<slug:slug>/tiering/",
        tiering_views.TeamTieringView.as_view(),
        name="tiering-team",
    ),
    path("chargeback/platform/", views.PlatformCostsView.as_view(), name="chargeback-platform"),
    *router.urls,
]
