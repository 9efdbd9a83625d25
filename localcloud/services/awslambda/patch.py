"""Hooks the Lambda service's fixes into MiniStack; every MiniStack Lambda function other services
extend is wrapped here, once (:mod:`.hooks`)."""

from __future__ import annotations

from localcloud.patches import wrap
from localcloud.services.awslambda import event_sources, filtering, hooks, invocations, responses, runtime, service


def apply() -> None:
    """Apply the Lambda fixes; e.g. ``apply()`` twice is a no-op."""
    from ministack.services import lambda_svc

    runtime.apply()  # first: the service patch edits the workers' invoke
    service.apply()
    event_sources.apply()
    filtering.apply()
    responses.apply()

    # A request refused by several checks gets the filter's message first, as on AWS.
    for check in (filtering.filter_criteria_error, event_sources.stream_setting_error):
        hooks.mapping_checks.add_create_check(check)
        hooks.mapping_checks.add_update_check(check)
    wrap(lambda_svc, "_create_esm", hooks.make_create_esm)
    wrap(lambda_svc, "_update_esm", hooks.make_update_esm)
    wrap(lambda_svc, "_emit_lambda_logs", hooks.make_emit_lambda_logs)

    # Every invocation is reported once, where all of them pass; MiniStack's own metrics counted
    # direct Invokes only, and a throttled one twice (CloudWatch counts from the report instead).
    wrap(lambda_svc, "_emit_lambda_metrics", lambda original: lambda *args, **kwargs: None)
    wrap(lambda_svc, "_execute_function", invocations.make_execute_function)
