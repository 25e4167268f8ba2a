"""Root URLconf: portal pages, the apps' pages, the REST API and its schema, admin, /metrics."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from sso import views as sso_views

from . import health, metrics_views, views

portal_patterns = [
    path("", views.home, name="home"),
    path("teams/switch/", views.team_switch, name="team_switch"),
    path("account/api-token/", views.api_token, name="api_token"),
    path("teams/<slug:slug>/settings/", views.team_settings, name="team_settings"),
    path("teams/<slug:slug>/members/", views.team_member_add, name="team_member_add"),
    path(
        "teams/<slug:slug>/members/<uuid:user_uuid>/role/",
        views.team_member_role,
        name="team_member_role",
    ),
    path(
        "teams/<slug:slug>/members/<uuid:user_uuid>/remove/",
        views.team_member_remove,
        name="team_member_remove",
    ),
    path("teams/<slug:slug>/metrics/", metrics_views.team_metrics, name="team_metrics"),
    path("platform/metrics/", metrics_views.fleet_metrics, name="fleet_metrics"),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("", include("deployments.urls")),
    path("costs/", include("billing.urls")),
    path("accounts/login/", sso_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", sso_views.logout, name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("django_prometheus.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
