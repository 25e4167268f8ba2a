"""The sign-in page (local accounts, and single sign-on when configured) and sign-out, which
also ends the provider's session when the user signed in through it."""

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.views.decorators.http import require_POST

from . import oidc


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = oidc.enabled()
        context["sso_provider_name"] = settings.OIDC_PROVIDER_NAME
        return context


@require_POST
def logout(request):
    provider = oidc.provider_logout_url(request)
    auth.logout(request)
    return HttpResponseRedirect(provider or resolve_url(settings.LOGOUT_REDIRECT_URL))
