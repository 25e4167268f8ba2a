from django.urls import path

from portal import metrics_views

app_name = "deployments"
urlpatterns: list = [
    path("endpoints/<uuid:uuid>/metrics/", metrics_views.endpoint_metrics, name="endpoint_metrics"),
]
