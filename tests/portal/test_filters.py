"""portal.filters.FilterSet: django-filter's FilterSet, its filters copied when first read."""

import django_filters
import pytest
from django.http import QueryDict

from deployments.endpoints.filters import EndpointFilterSet
from deployments.endpoints.models import Endpoint


class _Plain(django_filters.FilterSet):
    """EndpointFilterSet's filters on django-filter's own FilterSet."""

    base_filters = EndpointFilterSet.base_filters

    class Meta:
        model = Endpoint
        fields = []


def test_an_unbound_filterset_answers_without_copying_its_filters():
    filterset = EndpointFilterSet(None, queryset=Endpoint.objects.all())
    assert "deleted" in str(filterset.qs.query)  # its default: deleted endpoints hidden
    assert "filters" not in vars(filterset)


def test_the_filters_are_copied_for_the_instance_when_read():
    filterset = EndpointFilterSet(QueryDict("status=ready"), queryset=Endpoint.objects.all())
    assert filterset.is_valid()
    filters = filterset.filters
    assert filters is filterset.filters  # once
    assert filters.keys() == EndpointFilterSet.base_filters.keys()
    for name, filter_ in filters.items():
        assert filter_ is not EndpointFilterSet.base_filters[name]
        assert filter_.parent is filterset
        assert filter_.model is Endpoint


@pytest.mark.parametrize("data", [None, QueryDict("status=ready&q=x")])
def test_it_sets_what_django_filters_own_sets(data):
    """Fails when a django-filter upgrade sets more in FilterSet.__init__ than this copies."""
    ours = EndpointFilterSet(data, queryset=Endpoint.objects.all(), prefix="p")
    theirs = _Plain(data, queryset=Endpoint.objects.all(), prefix="p")
    ours.filters  # noqa: B018  (read: copied now)
    assert vars(ours).keys() == vars(theirs).keys()
    for name in vars(theirs).keys() - {"filters"}:
        assert getattr(ours, name) == getattr(theirs, name) or name == "queryset"
