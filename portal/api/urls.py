"""/api/v1/: every app's router under one prefix."""

from django.urls import include, path

urlpatterns = [
    path("", include("deployments.api.urls")),
    path("", include("billing.api.urls")),
]
