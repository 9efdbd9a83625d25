"""Lambda entry point of the pipe's enrichment step: ``high_value_enricher.handler.lambda_handler``.

Environment: ``VIP_CUSTOMERS`` (comma-separated customer ids, optional), ``P1_TOTAL`` (default 5000).
The pipe invokes it synchronously with the filtered batch and sends what it returns to the target queue.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from high_value_enricher.enrich import enrich_batch, settings_from_env

SETTINGS = settings_from_env(os.environ)
logger = Logger(service="orders")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> list[dict[str, Any]]:
    """Return one enriched message per record of the batch."""
    enriched = enrich_batch(event, SETTINGS)
    for message in enriched:
        logger.info(
            "High-value order enriched",
            extra={
                "orderId": message["orderId"],
                "priority": message["priority"],
                "customerTier": message["customerTier"],
            },
        )
    return enriched
