"""A list answered from ``values()`` rows: what a ModelSerializer writes, without models.

A page of 50 endpoints through ``ModelSerializer(many=True)`` builds ~250 model instances (the
endpoint and its four joined rows) and walks ~40 DRF fields per row through ``get_attribute``:
about half the CPU of ``GET /api/v1/endpoints/`` (bench/api_list.py). ``LeanList`` reads the
same page as ``values()`` of exactly the columns the serializer shows and calls each field's
own ``to_representation`` on them, so the JSON is the serializer's (tested field for field:
``tests/portal/api/test_lean.py`` and the endpoint API tests); the serializer stays the schema.

Supported fields: model fields (``source`` a column or ``relation.column`` through a joined
row), ``SlugRelatedField``-like relations answered by one key of the related row (``slug_field``
or ``key``): joined when the relation is in ``joined``, else read for the page in one query per
relation (the users: joining them made PostgreSQL plan for 20-50 ms). Anything else (a method
field, a nested serializer) makes ``LeanList.for_serializer`` answer ``None``: the caller then
serializes as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.relations import RelatedField


@dataclass(frozen=True)
class _Entry:
    name: str  # the output key
    column: str  # the values() lookup (for a looked-up relation: the foreign key's attname)
    field: serializers.Field | None  # to_representation for non-null values; None: as read
    model: type | None = None  # a looked-up relation: its model and key
    key: str = ""


def _concrete(model, name: str):
    try:
        field = model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist: a property or a method
        return None
    return field if getattr(field, "concrete", False) else None


@dataclass(frozen=True)
class LeanList:
    entries: tuple[_Entry, ...]

    @classmethod
    def for_serializer(cls, serializer, joined: tuple[str, ...]) -> LeanList | None:
        model = serializer.Meta.model
        entries = []
        for name, field in serializer.fields.items():
            if field.write_only:
                continue
            source = field.source
            if source == "*" or isinstance(
                field, serializers.SerializerMethodField | serializers.BaseSerializer
            ):
                return None
            path = source.split(".")
            if isinstance(field, RelatedField):
                key = getattr(field, "slug_field", None) or getattr(field, "key", None)
                relation = _concrete(model, source) if len(path) == 1 else None
                if not key or relation is None or not relation.is_relation:
                    return None
                if source in joined:
                    entries.append(_Entry(name, f"{source}__{key}", None))
                else:
                    entries.append(
                        _Entry(name, relation.attname, None, relation.related_model, key)
                    )
                continue
            if len(path) == 1:
                if _concrete(model, source) is None:
                    return None
            elif len(path) == 2 and path[0] in joined:
                relation = _concrete(model, path[0])
                if relation is None or _concrete(relation.related_model, path[1]) is None:
                    return None
            else:
                return None
            entries.append(_Entry(name, "__".join(path), field))
        return cls(tuple(entries))

    def values(self, queryset: QuerySet) -> QuerySet:
        """The queryset as the rows this list needs (prefetches dropped: nothing to attach)."""
        return queryset.prefetch_related(None).values(*[e.column for e in self.entries])

    def rows(self, queryset: QuerySet) -> CountedRows:
        """The queryset's rows for a paginator (see CountedRows)."""
        return CountedRows(queryset, self.values(queryset))

    def represent(self, rows) -> list[dict]:
        rows = list(rows)
        wanted: dict[tuple, set] = {}  # one query per related model and key for the page
        for e in self.entries:
            if e.model is not None:
                wanted.setdefault((e.model, e.key), set()).update(r[e.column] for r in rows)
        found: dict[tuple, dict] = {}
        for (model, key), ids in wanted.items():
            ids.discard(None)
            rows_of = model._default_manager.filter(pk__in=ids).values_list("pk", key)
            found[(model, key)] = dict(rows_of) if ids else {}
        keys = {e.name: found[(e.model, e.key)] for e in self.entries if e.model is not None}
        out = []
        for row in rows:
            item = {}
            for e in self.entries:
                value = row[e.column]
                if e.model is not None:
                    item[e.name] = keys[e.name].get(value)
                elif value is None or e.field is None:
                    item[e.name] = value
                else:
                    item[e.name] = e.field.to_representation(value)
            out.append(item)
        return out


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
