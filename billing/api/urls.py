from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("chargeback/usage", views.UsageRecordViewSet, basename="usagerecord")
router.register("chargeback/statements", views.StatementViewSet, basename="statement")
urlpatterns = [
    path("chargeback/teams/<slug:slug>/", views.TeamCostsView.as_view(), name="chargeback-team"),
    path("chargeback/platform/", views.PlatformCostsView.as_view(), name="chargeback-platform"),
    *router.urls,
]
