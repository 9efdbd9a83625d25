"""Step 1 of the order pipeline: the ``POST /orders`` and ``GET /orders/{orderId}`` Lambda.

Modules:

- :mod:`create_order.orders`: pure functions (validation, ids, hashing, item and response shapes);
- :mod:`create_order.store`: the ``OrderStore`` protocol and its DynamoDB implementation;
- :mod:`create_order.handler`: the thin Lambda entry point, ``create_order.handler.lambda_handler``.

Importing this package (or ``orders`` / ``store``) has no side effects; only ``handler``
reads the environment.
"""
