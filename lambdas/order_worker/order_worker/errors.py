"""Why a message failed. Every failure is retried by SQS (the message comes back after its
visibility timeout) until the queue's ``maxReceiveCount`` moves it to the dead-letter queue;
a :class:`PermanentFailure` will fail the same way each time, so it is bound for the DLQ.

>>> isinstance(PoisonOrder("o-1"), PermanentFailure), isinstance(TransientFailure("o-1", 1, 2), PermanentFailure)
(True, False)
"""

from __future__ import annotations

__all__ = ["OrderNotFound", "PermanentFailure", "PoisonMessage", "PoisonOrder", "TransientFailure"]


class PermanentFailure(Exception):
    """Retrying cannot help: the message ends in the dead-letter queue."""


class PoisonMessage(PermanentFailure):
    """The message body is not a valid order message; ``reason`` says why.

    >>> str(PoisonMessage("orderId: missing"))
    'malformed order message: orderId: missing'
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed order message: {reason}")


class PoisonOrder(PermanentFailure):
    """The order carries ``fault: "poison"`` (lab fault injection): it always fails.

    >>> str(PoisonOrder("o-1"))
    'poison order o-1: this order always fails (lab fault injection)'
    """

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"poison order {order_id}: this order always fails (lab fault injection)")


class OrderNotFound(PermanentFailure):
    """The message names an order that is not in the orders table.

    >>> str(OrderNotFound("o-1"))
    'order o-1 not found in the orders table'
    """

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} not found in the orders table")


class TransientFailure(Exception):
    """The order carries ``fault: "transient"`` and has not been received often enough yet.

    >>> str(TransientFailure("o-1", receive_count=1, failures=2))
    'transient failure of order o-1 on receive 1 of 2 failing receives (lab fault injection)'
    """

    def __init__(self, order_id: str, receive_count: int, failures: int) -> None:
        self.order_id = order_id
        self.receive_count = receive_count
        self.failures = failures
        super().__init__(
            f"transient failure of order {order_id} on receive {receive_count} of {failures} failing receives "
            "(lab fault injection)"
        )
