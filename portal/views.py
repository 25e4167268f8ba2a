from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def home(request):
    return HttpResponse("ModelPort")


@login_required
def team_switch(request):
    return HttpResponse(status=204)


@login_required
def team_settings(request, slug):
    return HttpResponse(status=204)
