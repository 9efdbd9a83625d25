"""Hooks CloudWatch metrics and alarms into MiniStack."""

from __future__ import annotations

from typing import Any

from localcloud.events import bus
from localcloud.patches import PatchError, wrap
from localcloud.services.cloudwatch.metering import subscribe
from localcloud.services.cloudwatch.responses import (
    make_get_metric_data,
    make_put_metric_alarm,
    make_put_metric_data,
    make_set_alarm_state,
)
from localcloud.services.cloudwatch.runtime import _flush, _rt, dispatch_actions, start, stop, time_scale_from_env
from localcloud.services.cloudwatch.sources import MetricWriter, dims_key

_CLOUDWATCH_NEEDS = (
    "_metrics",
    "_alarms",
    "_history_entries",
    "_evaluate_alarm",
    "_evaluate_all_alarms",
    "_dispatch_alarm_actions",
    "_put_metric_alarm",
    "_put_metric_data",
    "_get_metric_data",
    "_calc_stats",
    "_parse_ts",
    "_ts_iso",
    "_cbor_metric_data_result",
    "_set_alarm_state",
    "_evaluate_parent_alarms",
    "_is_sns_action_arn",
    "_error",
    "_cbor_ok",
    "_json_ok",
    "_xml",
    "handle_request",
    "reset",
    "_dims_key",
)
_SQS_NEEDS = ("_queue_by_arn", "_queues", "_queues_lock")


def apply() -> None:
    """Apply the CloudWatch fixes; e.g. ``apply()`` twice is a no-op."""
    import ministack.app as ministack_app
    from ministack.services import cloudwatch, sns, sqs

    missing = [f"cloudwatch.{n}" for n in _CLOUDWATCH_NEEDS if not hasattr(cloudwatch, n)]
    missing += [f"sqs.{n}" for n in _SQS_NEEDS if not hasattr(sqs, n)]
    missing += [
        f"{m.__name__}.{n}"
        for m, n in ((sns, "publish_internal"), (ministack_app, "_handle_lifespan"))
        if not hasattr(m, n)
    ]
    if missing:
        raise PatchError(f"cannot patch CloudWatch: MiniStack lacks {', '.join(missing)}")
    if dims_key({"b": "2", "a": "1"}) != cloudwatch._dims_key({"b": "2", "a": "1"}):
        raise PatchError("cannot patch CloudWatch: MiniStack keys metric dimensions differently now")
    _rt.scale = time_scale_from_env()
    _rt.writer = MetricWriter(cloudwatch._metrics)

    # Alarms: evaluated by the scheduler only (AWS evaluates on its own clock, not on PutMetricData).
    wrap(cloudwatch, "_evaluate_alarm", lambda original: lambda alarm: None)
    wrap(cloudwatch, "_evaluate_all_alarms", lambda original: lambda: None)
    wrap(
        cloudwatch,
        "_dispatch_alarm_actions",
        lambda original: (
            lambda alarm, old_state, new_state, reason: dispatch_actions(alarm, old_state, new_state, reason)
        ),
    )
    wrap(cloudwatch, "_put_metric_alarm", make_put_metric_alarm)
    wrap(cloudwatch, "_set_alarm_state", make_set_alarm_state)
    wrap(cloudwatch, "_put_metric_data", make_put_metric_data)
    wrap(cloudwatch, "_get_metric_data", make_get_metric_data)

    def make_handle_request(original):
        async def handle_request(method, path, headers, body, query_params):
            _flush()  # what was invoked before this request is in the answer
            return await original(method, path, headers, body, query_params)

        return handle_request

    def make_reset(original):
        def reset(*args: Any, **kwargs: Any):
            result = original(*args, **kwargs)
            if _rt.writer is not None:
                _rt.writer.reset()
            _rt.fresh.clear()
            _rt.meters.clear()
            return result

        return reset

    wrap(cloudwatch, "handle_request", make_handle_request)
    wrap(cloudwatch, "reset", make_reset)

    subscribe(bus)

    def make_lifespan(original):
        async def _handle_lifespan(scope, receive, send):
            start()
            try:
                return await original(scope, receive, send)
            finally:
                stop()

        return _handle_lifespan

    wrap(ministack_app, "_handle_lifespan", make_lifespan)
