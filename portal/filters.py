"""The FilterSet every list filters with (the UI's and the API's, STYLE §8).

django-filter deep-copies all of a FilterSet's filters into each instance, whether or not it
filters: for the endpoints' seven ≈0.16 ms of each ``GET /api/v1/endpoints/``
(bench/api_list.py), most of which ask with none of the parameters and read only the unbound
FilterSet's ``qs`` (portal.api.query.DjangoFilterBackend), which reads no filter. Here the
copy is made when the filters are first read (the form, a bound ``qs``), the same copy
django-filter makes. ``__init__`` sets what django-filter's sets, except the filters
(tests/portal/test_filters.py fails when django-filter's sets more).
"""

import copy

import django_filters
from django.http import QueryDict
from django.utils.functional import cached_property


class FilterSet(django_filters.FilterSet):
    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # django_filters.FilterSet.__init__ without the copy of the filters (see `filters`).
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix

    @cached_property
    def filters(self) -> dict:
        filters = copy.deepcopy(self.base_filters)
        for filter_ in filters.values():  # as django-filter: the model and the filterset
            filter_.model = self.queryset.model
            filter_.parent = self
        return filters
