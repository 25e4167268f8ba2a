"""The savings advisor (docs/chargeback.md "Savings advisor"): per endpoint and per team,
concrete changes with their monthly saving, from the usage rows the bills are made of and the
price table in force.

* ``rules`` (pure): the arithmetic of each kind (off-hours schedule, spot, right size, fp8,
  the hosted-API break-even);
* ``facts``: what it reads (usage rows of the look-back window, live endpoints, prices, DCGM);
* ``dismissals``: when a dismissed suggestion stays hidden;
* ``advice``: the use cases ``team_advice`` and ``dismiss_suggestion``.
"""

from .advice import AdvisorError, TeamAdvice, dismiss_suggestion, team_advice
from .dismissals import DISMISSAL_DAYS, MATERIAL_CHANGE
from .facts import LOOKBACK

__all__ = [
    "DISMISSAL_DAYS",
    "LOOKBACK",
    "MATERIAL_CHANGE",
    "AdvisorError",
    "TeamAdvice",
    "dismiss_suggestion",
    "team_advice",
]
