"""Business metrics as single CloudWatch EMF lines (Powertools ``single_metric``), no handler decorator needed.

    metrics.count("subscription_started", plan="pro")    # one Count=1 line with dimension plan=pro
    metrics.value("WhatsAppDeadLetterDepth", 3)           # a measured value (a gauge): one line, Count=3
    metrics.value("WhatsAppTokenDaysLeft", 41.5, unit="None")

Skipped when ``POWERTOOLS_METRICS_NAMESPACE`` is unset; a metric that fails is logged, never raised: it must not
break the request that counts it. Powertools' metrics module is imported on first use, not at cold start.
"""

from __future__ import annotations

from odys import config
from odys.log import logger


def count(name: str, **dimensions: str) -> None:
    namespace = config.env("POWERTOOLS_METRICS_NAMESPACE")
    if not namespace:
        return
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
            for key, value in dimensions.items():
                metric.add_dimension(name=key, value=value)
    except Exception:  # noqa: BLE001 - a metric never breaks the request
        logger.warning("metric not emitted", extra={"metric": name})


def value(name: str, amount: float, *, unit: str = "Count", **dimensions: str) -> None:
    """One measured value (``unit``: a CloudWatch unit name, e.g. "Count", "Seconds", "None"); as :func:`count`."""
    namespace = config.env("POWERTOOLS_METRICS_NAMESPACE")
    if not namespace:
        return
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(name=name, unit=MetricUnit(unit), value=amount, namespace=namespace) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)
    except Exception:  # noqa: BLE001 - a metric never breaks the request
        logger.warning("metric not emitted", extra={"metric": name})
