"""Step 4: the enrichment Lambda of the high-value pipe (EventBridge Pipes → this → SQS).

- :mod:`high_value_enricher.enrich`: pure functions (stream record → routed order message);
- :mod:`high_value_enricher.handler`: the thin entry point, ``high_value_enricher.handler.lambda_handler``.
"""
