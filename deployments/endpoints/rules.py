"""The rules an endpoint spec must keep that the spec alone decides, each written once.

`Endpoint.clean()` checks the replica bounds and the schedule; the request and change forms,
the API serializers and the services call the same functions (the model choice is checked
only when it is chosen or changed, so an endpoint whose catalog entry changed later can still
be scaled or stopped). Each function answers {field: message}, empty when the spec is fine.
"""

from collections.abc import Mapping
from typing import Any

from catalog.models import CatalogModel
from portal.validators import time_zone_problem

REPLICAS_ORDER = "Minimum replicas cannot be above maximum replicas."


def replica_problems(min_replicas: int | None, max_replicas: int | None) -> dict[str, str]:
    if min_replicas is not None and max_replicas is not None and min_replicas > max_replicas:
        return {"min_replicas": REPLICAS_ORDER}
    return {}


def model_choice_problems(
    model: CatalogModel | None, quantization: str | None, context: int | None
) -> dict[str, str]:
    if model is None:
        return {}
    problems = {}
    if not model.enabled:
        problems["model"] = f"{model.name} is not enabled in the catalog."
    allowed = model.allowed_quantizations or []
    if quantization and quantization not in allowed:
        problems["quantization"] = f"{model.name} allows {', '.join(allowed)}, not {quantization}."
    elif quantization and model.storage_uri_for(quantization) is None:
        problems["quantization"] = (
            f"{model.name} has no {quantization} weights in the catalog yet: pick another "
            "precision or ask an admin to add them."
        )
    if context and context > model.native_context_length:
        problems["max_context_length"] = (
            f"{model.name} supports at most {model.native_context_length} tokens of context."
        )
    return problems


def schedule_problems(spec: Mapping[str, Any]) -> dict[str, str]:
    problems = {}
    zone = spec.get("schedule_timezone") or ""
    zone_problem = time_zone_problem(zone)
    if zone_problem:
        problems["schedule_timezone"] = zone_problem
    if not spec.get("schedule_enabled"):
        return problems
    start, end = spec.get("schedule_start"), spec.get("schedule_end")
    if not zone:
        problems["schedule_timezone"] = "Pick the time zone of the working hours."
    if start is None:
        problems["schedule_start"] = "Set when working hours start."
    if end is None:
        problems["schedule_end"] = "Set when working hours end."
    elif start is not None and end == start:
        problems["schedule_end"] = "Working hours must end at a different time than they start."
    return problems


def spec_problems(spec: Mapping[str, Any], model_choice: bool = True) -> dict[str, str]:
    """Every rule above for a spec (a dict of SPEC_FIELDS values); later rules do not
    overwrite an earlier message for the same field."""
    found: dict[str, str] = {}
    parts = [replica_problems(spec.get("min_replicas"), spec.get("max_replicas"))]
    if model_choice:
        parts.append(
            model_choice_problems(
                spec.get("model"), spec.get("quantization"), spec.get("max_context_length")
            )
        )
    parts.append(schedule_problems(spec))
    for part in parts:
        for field, message in part.items():
            found.setdefault(field, message)
    return found
