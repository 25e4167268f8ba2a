"""A list answered from ``values()`` rows: what a ModelSerializer writes, without models.

A page of 50 endpoints through ``ModelSerializer(many=True)`` builds ~250 model instances (the
endpoint and its four joined rows) and walks ~40 DRF fields per row through ``get_attribute``:
about half the CPU of ``GET /api/v1/endpoints/`` (bench/api_list.py). ``LeanList`` reads the
same page as ``values()`` of exactly the columns the serializer shows and converts each value
as the field's own ``to_representation`` would, so the JSON is the serializer's (tested field
for field: ``tests/portal/test_api_lean.py`` and the endpoint API tests); the serializer stays
the schema.

Supported fields: model fields (``source`` a column or ``relation.column``) and
``SlugRelatedField``-like relations answered by one key of the related row (``slug_field`` or
``key``). A relation in ``joined`` is read through the join (one the query has anyway, for its
ordering or filters); any other by a correlated subquery (``_read``): each joined relation adds
to the join orders PostgreSQL searches (with all six of an endpoint's joined it planned for
20-50 ms, with four ~1.3 ms), a subquery is planned on its own (~0.4 ms with one join) and runs
for the page's rows only. Anything else (a method field, a nested serializer, a file, a related
object's ``str()``) makes ``LeanList.for_serializer`` answer ``None``: the caller then
serializes as usual.

Built once per serializer class (its fields are the class's, not the request's: a serializer
whose fields depend on the request is not for this), ``joined`` and current time zone, and
again when a setting changes. Each entry gets a plain converter (``_converter``): none where the
column's values already are what the field answers (a string, an integer, a boolean), the
field's exact formatting of dates, times, decimals, UUIDs and choices with its own arguments and
the REST_FRAMEWORK settings, and the field's own ``to_representation`` for anything else.
"""

from __future__ import annotations

import datetime
import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.relations import RelatedField
from rest_framework.settings import api_settings

Convert = Callable[[object], object]


@dataclass(frozen=True)
class _Entry:
    name: str  # the output key
    column: str  # the values() lookup, or the alias of `read`
    convert: Convert | None  # for non-null values; None: as read
    read: Subquery | None = None  # a column of a relation that is not joined


def _concrete(model, name: str):
    try:
        field = model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist: a property or a method
        return None
    return field if getattr(field, "concrete", False) else None


# DRF's to_representation -> the model columns whose values it gives back as they are: ``str``
# of a string, ``int`` of an integer, ``bool`` of a boolean, ``float`` of a float.
_AS_READ = {
    serializers.CharField.to_representation: (models.CharField, models.TextField),
    serializers.IntegerField.to_representation: (models.IntegerField,),
    serializers.BooleanField.to_representation: (models.BooleanField,),
    serializers.FloatField.to_representation: (models.FloatField,),
}


def _choice(field: serializers.ChoiceField) -> Convert | None:
    # ChoiceField.to_representation: '' as is, else the choice whose str() is the value's.
    mapping = dict(field.choice_strings_to_values)
    if all(type(key) is str for key in mapping.values()):
        return None  # a string column: the choice is the value itself, or the value is kept
    return lambda value: value if value == "" else mapping.get(str(value), value)


def _uuid(field: serializers.UUIDField) -> Convert:
    return str if field.uuid_format == "hex_verbose" else operator.attrgetter(field.uuid_format)


def _decimal(field: serializers.DecimalField) -> Convert | None:
    coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    if field.localize or field.normalize_output:
        return field.to_representation  # the locale or the context of the moment: as DRF does
    if field.decimal_places is None:
        quantize = None
    else:
        context = decimal.getcontext().copy()
        if field.max_digits is not None:
            context.prec = field.max_digits
        quantum = decimal.Decimal(".1") ** field.decimal_places
        rounding = field.rounding

        def quantize(value):
            return value.quantize(quantum, rounding=rounding, context=context)

    if not coerce:
        return quantize
    if quantize is None:
        return lambda value: f"{value:f}"
    return lambda value: f"{quantize(value):f}"


_UTC_KEYS = frozenset({"UTC", "Etc/UTC"})


def _datetime(field: serializers.DateTimeField, zone) -> Convert | None:
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output is None:
        return None
    zone = field.timezone if hasattr(field, "timezone") else zone
    if zone is None or not settings.USE_TZ:
        return field.to_representation  # naive datetimes: DRF's own rules
    if output.lower() != ISO_8601:
        return lambda value: value.astimezone(zone).strftime(output)
    if getattr(zone, "key", None) in _UTC_KEYS or zone is datetime.UTC:
        # One offset, always 0: datetime's own UTC writes the same text without zoneinfo's
        # lookups, and the values read from PostgreSQL already carry it (astimezone: as is).
        return lambda value: value.astimezone(datetime.UTC).isoformat()[:-6] + "Z"

    def iso(value):
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def _date_or_time(field: serializers.Field, default: str | None) -> Convert | None:
    output = getattr(field, "format", default)
    if output is None:
        return None
    if output.lower() == ISO_8601:
        return operator.methodcaller("isoformat")
    return operator.methodcaller("strftime", output)


def _converter(field: serializers.Field, column, zone) -> Convert | None:
    """What ``field.to_representation`` does to the non-null values of ``column``."""
    own = type(field).to_representation
    if isinstance(column, _AS_READ.get(own, ())):
        return None
    if own is serializers.ChoiceField.to_representation:
        return _choice(field) if isinstance(column, models.CharField) else field.to_representation
    if own is serializers.UUIDField.to_representation and isinstance(column, models.UUIDField):
        return _uuid(field)
    if own is serializers.DecimalField.to_representation and isinstance(
        column, models.DecimalField
    ):
        return _decimal(field)
    if own is serializers.DateTimeField.to_representation and isinstance(
        column, models.DateTimeField
    ):
        return _datetime(field, zone)
    if own is serializers.DateField.to_representation and type(column) is models.DateField:
        return _date_or_time(field, api_settings.DATE_FORMAT)
    if own is serializers.TimeField.to_representation and isinstance(column, models.TimeField):
        return _date_or_time(field, api_settings.TIME_FORMAT)
    return field.to_representation


@dataclass(frozen=True)
class LeanList:
    entries: tuple[_Entry, ...]

    @classmethod
    def for_serializer(cls, serializer_class, joined: tuple[str, ...]) -> LeanList | None:
        """The list of ``serializer_class`` (None: it has fields this cannot read), built once
        per class, ``joined`` and current time zone."""
        zone = timezone.get_current_timezone() if settings.USE_TZ else None
        return _lean_list(serializer_class, tuple(joined), zone)

    @classmethod
    def _build(cls, serializer, joined: tuple[str, ...], zone) -> LeanList | None:
        model = serializer.Meta.model
        entries = []
        for name, field in serializer.fields.items():
            if field.write_only:
                continue
            source = field.source
            if source == "*" or isinstance(
                field,
                serializers.SerializerMethodField
                | serializers.BaseSerializer
                | serializers.FileField,
            ):
                return None
            path = source.split(".")
            if isinstance(field, RelatedField):  # answered by one key of the related row, as is
                key = getattr(field, "slug_field", None) or getattr(field, "key", None)
                if not key or len(path) != 1:
                    return None
                path, convert = [source, key], None
            elif len(path) > 2:
                return None
            column = _concrete(model, path[0])
            if len(path) == 2:
                column = column and column.is_relation and _concrete(column.related_model, path[1])
            if not column or column.is_relation or isinstance(column, models.FileField):
                return None  # a related object's str() or a file's URL: the serializer's
            if not isinstance(field, RelatedField):
                convert = _converter(field, column, zone)
            if len(path) == 1 or path[0] in joined:
                entries.append(_Entry(name, "__".join(path), convert))
            else:
                entries.append(_Entry(name, f"lean_{name}", convert, _read(model, *path)))
        return cls(tuple(entries))

    def values(self, queryset: QuerySet) -> QuerySet:
        """The queryset as the rows this list needs (prefetches dropped: nothing to attach)."""
        columns = [e.column for e in self.entries if e.read is None]
        reads = {e.column: e.read for e in self.entries if e.read is not None}
        return queryset.prefetch_related(None).values(*columns, **reads)

    def rows(self, queryset: QuerySet) -> CountedRows:
        """The queryset's rows for a paginator (see CountedRows)."""
        return CountedRows(queryset, self.values(queryset))

    def represent(self, rows) -> list[dict]:
        """Each row as the serializer's dict: its keys in the fields' order, then only the
        values that need a converter converted (of EndpointSerializer's 35 fields, 9: a check
        per value of the other 26 was a third of the time of a page)."""
        keys = [(e.name, e.column) for e in self.entries]
        converts = [(e.name, e.convert) for e in self.entries if e.convert is not None]
        out = []
        for row in rows:
            item = {name: row[column] for name, column in keys}
            for name, convert in converts:
                value = item[name]
                if value is not None:
                    item[name] = convert(value)
            out.append(item)
        return out


def _read(model, relation: str, column: str) -> Subquery:
    """The related row's column for each row, as a correlated subquery: PostgreSQL plans it on
    its own (joined, every relation adds to the join order it searches) and runs it for the
    rows of the page only."""
    relation = model._meta.get_field(relation)
    related = relation.related_model._base_manager.filter(
        **{relation.target_field.attname: OuterRef(relation.attname)}
    )
    return Subquery(related.order_by().values(column))  # one row: no ordering (nor its joins)


@lru_cache(maxsize=64)
def _lean_list(serializer_class, joined: tuple[str, ...], zone) -> LeanList | None:
    return LeanList._build(serializer_class(), joined, zone)


def _settings_changed(*, setting, **kwargs) -> None:
    # The converters read REST_FRAMEWORK (formats, decimals) and USE_TZ when they are built.
    if setting in ("REST_FRAMEWORK", "USE_TZ"):
        _lean_list.cache_clear()


setting_changed.connect(_settings_changed)


class CountedRows:
    """A list's ``values()`` rows as a paginator reads them: sliced as rows, counted on the
    queryset they were read from. The rows' relations (``team__slug``...) join tables that add
    nothing to a count; counted on the values() PostgreSQL joined them all the same (≈2.6 ms a
    page at 1,000 endpoints, bench/api_list.py)."""

    def __init__(self, queryset: QuerySet, rows: QuerySet):
        self.queryset = queryset
        self.rows = rows

    @property
    def ordered(self) -> bool:
        return self.rows.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index):
        return self.rows[index]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
