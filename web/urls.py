"""Root URLconf: every app's pages, the REST API under /api/v1/ and its schema, the admin,
/metrics. The one place that knows all apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from deployments import metrics_views
from portal import urls as portal_urls

from . import views

portal_patterns = [
    path("", views.home, name="home"),
    *portal_urls.urlpatterns,
    path("teams/<slug:slug>/metrics/", metrics_views.team_metrics, name="team_metrics"),
    path("platform/metrics/", metrics_views.fleet_metrics, name="fleet_metrics"),
]

api_patterns = [
    path("", include("catalog.api.urls")),
    path("", include("deployments.api.urls")),
    path("", include("deployments.routing.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("portal.api.urls")),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("", include("deployments.urls")),
    path("costs/", include("billing.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("django_prometheus.urls")),
]
