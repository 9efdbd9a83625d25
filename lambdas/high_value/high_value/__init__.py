"""Step 4: the consumer of the high-value queue — marks each routed order for priority handling.

- :mod:`high_value.marking`: pure functions (message → the conditional ``UpdateItem``);
- :mod:`high_value.handler`: the thin entry point, ``high_value.handler.lambda_handler``.
"""
