"""Request body parsers of the whole API: JSON with a nesting limit.

Python's JSON decoder recurses once per level, so ``[[[[...]]]]`` 100,000 deep raised
RecursionError (a 500). No request of ours nests deeper than a few levels: a body nested more
than MAX_DEPTH levels is a 400 that says so."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.utils import json

MAX_DEPTH = 32
TOO_DEEP = f"JSON body is nested too deeply (at most {MAX_DEPTH} levels)."


def _depth(value) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError as exc:
            raise ParseError(TOO_DEEP) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        return data
