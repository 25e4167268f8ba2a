"""Chargeback use cases (STYLE §3: cost maths on Decimal, no HTTP):

* ``usage`` (a package): price table, measuring GPU time from the samples, pricing, storing rows;
* ``statements``: month close (immutable, versioned statements) and re-open;
* ``budgets``: month-to-date spend, forecast, threshold alerts and their notifications.
"""

from .budgets import (
    NotificationFailed,
    active_budget_alert,
    check_budgets,
    forecast_month_cost,
    month_cost,
    month_to_date_cost,
    notify_budget,
)
from .statements import (
    Completeness,
    close_month,
    close_month_once_collected,
    month_completeness,
    month_usage,
    reopen_month,
)
from .usage import (
    ChargebackError,
    CollectResult,
    PriceTable,
    UsageRow,
    Window,
    billing_client,
    collect_gpu_usage,
    compute_usage,
    fetch_usage,
    load_price_file,
    measure_usage,
    save_usage,
    split_windows,
)

__all__ = [
    "ChargebackError",
    "Completeness",
    "CollectResult",
    "NotificationFailed",
    "PriceTable",
    "UsageRow",
    "Window",
    "active_budget_alert",
    "billing_client",
    "check_budgets",
    "close_month",
    "close_month_once_collected",
    "collect_gpu_usage",
    "compute_usage",
    "fetch_usage",
    "forecast_month_cost",
    "load_price_file",
    "measure_usage",
    "month_cost",
    "month_to_date_cost",
    "month_completeness",
    "month_usage",
    "notify_budget",
    "reopen_month",
    "save_usage",
    "split_windows",
]
