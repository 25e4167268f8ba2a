"""Root URLconf: every app's pages, the REST API under /api/v1/ and its schema, the admin,
/metrics. The one place that knows all apps."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from deployments.endpoints import metrics_views
from portal import health
from portal import urls as portal_urls
from portal import views as portal_views
from portal.api.schema import SchemaView
from sso import views as sso_views

from . import views
from .api_root import ApiRootView

admin.site.site_header = "ModelPort administration"
admin.site.site_title = "ModelPort admin"
admin.site.index_title = "Catalog, teams, endpoints and prices"

portal_patterns = [
    path("", views.home, name="home"),
    *portal_urls.urlpatterns,
    path("teams/<slug:slug>/metrics/", metrics_views.team_metrics, name="team_metrics"),
    path("platform/metrics/", metrics_views.fleet_metrics, name="fleet_metrics"),
]

api_patterns = [
    path("", ApiRootView.as_view(), name="api-root"),
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
    path("accounts/login/", sso_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", sso_views.logout, name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's initialiser as a script file (no inline script: CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", portal_views.metrics_export, name="prometheus-django-metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
# An /api/ path no route matches answers JSON like the API's other errors.
handler404 = "portal.api.errors.page_not_found"
handler500 = "portal.api.errors.server_error"
