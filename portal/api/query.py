"""Query parameters of the API's lists, read as strictly as the schema states them.

django-filter ignores a typed filter given an empty or unreadable value (`?start=`,
`?enabled=null`, `?kind=`) and DRF's pagination reads `?page=` as page 1: the client asked
for something and silently got everything. Here such a value is a 400 naming the parameter,
and `page` must be a page number (else the documented 404 "Invalid page")."""

import django_filters
from django_filters import rest_framework as filters
from django_filters import utils
from rest_framework import negotiation, pagination, serializers

# Filters whose value has a type (boolean, choice, date, number, UUID): an empty value is not
# one. Free-text filters (CharFilter, slugs) take any string.
TYPED = (
    django_filters.BooleanFilter,
    django_filters.ChoiceFilter,
    django_filters.MultipleChoiceFilter,
    django_filters.DateFilter,
    django_filters.DateTimeFilter,
    django_filters.IsoDateTimeFilter,
    django_filters.NumberFilter,
    django_filters.UUIDFilter,
)
BOOLEANS = {"true", "false"}


def query_problems(filterset, params) -> dict[str, list[str]]:
    problems = {}
    for name, filter_ in filterset.filters.items():
        values = params.getlist(name)
        if isinstance(filter_, django_filters.BooleanFilter):
            if any(v not in BOOLEANS for v in values):
                problems[name] = ["Must be true or false."]
        elif isinstance(filter_, TYPED) and "" in values:
            problems[name] = ["Give a value or leave the parameter out."]
    return problems


class DjangoFilterBackend(filters.DjangoFilterBackend):
    """A request that gives none of the FilterSet's parameters gets it unbound: its defaults
    (EndpointFilterSet hides deleted rows) without a form class, form and validation built for
    nothing (≈0.6 ms of each such list request, bench/api_list.py). A parameter a filter reads
    starts with its name (django-filter's range widgets add ``_min``, ``_after``...)."""

    def get_filterset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return None
        kwargs = self.get_filterset_kwargs(request, queryset, view)
        params = kwargs["data"]
        if not any(key.startswith(tuple(filterset_class.base_filters)) for key in params):
            kwargs["data"] = None
        filterset = filterset_class(**kwargs)
        if filterset.is_bound:
            problems = query_problems(filterset, params)
            if problems:
                raise serializers.ValidationError(problems)
        return filterset

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if filterset.is_bound and not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        return filterset.qs


class PageNumberPagination(pagination.PageNumberPagination):
    def get_page_number(self, request, paginator):
        number = request.query_params.get(self.page_query_param)
        if number is None:
            return 1
        if number in self.last_page_strings:
            return paginator.num_pages
        return number  # "" or "x": Django's paginator refuses it (404 Invalid page)


def boolean_param(request, name: str, default: bool) -> bool:
    """A boolean query parameter read as the schema states it: `true` or `false` (else a 400
    naming it); left out means ``default``."""
    values = request.query_params.getlist(name)
    if any(v not in BOOLEANS for v in values):
        raise serializers.ValidationError({name: ["Must be true or false."]})
    return values[-1] == "true" if values else default


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """`?format=` given empty is a 400, as every typed parameter is: DRF ignores it and answers
    the default renderer, so the client silently got JSON for what it spelled wrong."""

    def select_renderer(self, request, renderers, format_suffix=None):
        given = request.query_params.getlist(self.settings.URL_FORMAT_OVERRIDE or "format")
        if "" in given and format_suffix is None and not getattr(request, "_bad_format", False):
            request._bad_format = True  # the error itself is rendered by the default renderer
            raise serializers.ValidationError({"format": ["Give a format or leave it out."]})
        return super().select_renderer(request, renderers, format_suffix)
