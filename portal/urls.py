"""The core's pages: team switcher, API token, team settings and members. Mounted by the root
URLconf (web.urls) in the `portal` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("teams/switch/", views.team_switch, name="team_switch"),
    path("account/api-token/", views.api_token, name="api_token"),
    path("account/api-tokens/<uuid:uuid>/revoke/", views.api_token_revoke, name="api_token_revoke"),
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
]
