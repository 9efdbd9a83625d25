"""Step 3 of the order pipeline: the SQS order queue's worker, PENDING -> CONFIRMED | REJECTED.

Modules:

- :mod:`order_worker.errors`: what can go wrong with a message, permanent or transient;
- :mod:`order_worker.messages`: pure parsing of an order message body;
- :mod:`order_worker.rules`: pure business rules (``evaluate``) and their settings from the environment;
- :mod:`order_worker.faults`: pure fault injection (the lab's ``fault`` switch) and retry backoff;
- :mod:`order_worker.store`: the ``OrderStatusStore`` protocol and its DynamoDB implementation;
- :mod:`order_worker.visibility`: the ``MessageVisibility`` protocol and its SQS implementation;
- :mod:`order_worker.handler`: the thin Lambda entry point, ``order_worker.handler.lambda_handler``.

Importing this package (or any module but ``handler``) has no side effects; only ``handler``
reads the environment.
"""
