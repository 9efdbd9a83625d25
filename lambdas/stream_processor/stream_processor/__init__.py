"""Step 2 of the order pipeline: DynamoDB Streams -> SQS, one message per new order.

Modules:

- :mod:`stream_processor.messages`: pure functions (stream record -> order message, SQS
  entries, chunking, which failure to report);
- :mod:`stream_processor.queue`: the ``OrderQueue`` protocol, its SQS implementation and
  the bounded retry of ``SendMessageBatch`` partial failures;
- :mod:`stream_processor.handler`: the thin Lambda entry point,
  ``stream_processor.handler.lambda_handler``.

Importing this package (or ``messages`` / ``queue``) has no side effects; only ``handler``
reads the environment.
"""
