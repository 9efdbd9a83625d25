"""Pure parts of helpers/aws/apigateway.py: the $default stage's throttle and its convergence.

AWS: HTTP API throttling (token bucket: burst + steady rate, per route via DefaultRouteSettings),
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html;
RouteSettings (ThrottlingBurstLimit integer, ThrottlingRateLimit double),
https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid-stages-stagename.html
"""

from __future__ import annotations

import pytest

from helpers.aws.apigateway import (
    DEFAULT_THROTTLING_BURST_LIMIT,
    DEFAULT_THROTTLING_RATE_LIMIT,
    default_route_settings_update,
    stage_throttling,
)


def test_default_throttle_is_burst_50_rate_20() -> None:
    assert (DEFAULT_THROTTLING_BURST_LIMIT, DEFAULT_THROTTLING_RATE_LIMIT) == (200, 100.0)
    assert stage_throttling() == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100.0}
    rate = stage_throttling(1000, 500)["ThrottlingRateLimit"]
    assert rate == 500.0 and isinstance(rate, float)  # a double in the API


@pytest.mark.parametrize("burst, rate", [(-1, 20), (50, -0.5), (1.5, 20), (True, 20), (50, float("inf")), (50, "20")])
def test_invalid_throttles_are_refused(burst, rate) -> None:
    with pytest.raises(ValueError, match="throttling_"):
        stage_throttling(burst, rate)


def test_a_stage_with_the_throttle_needs_no_update() -> None:
    wanted = stage_throttling(50, 20)
    # GetStage answers the rate as a number (20 or 20.0) and HTTP APIs add DetailedMetricsEnabled.
    assert (
        default_route_settings_update(
            {"DetailedMetricsEnabled": False, "ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 20}, wanted
        )
        is None
    )
    assert default_route_settings_update({**wanted}, wanted) is None


@pytest.mark.parametrize(
    "current",
    [
        None,
        {},
        {"DetailedMetricsEnabled": False},
        {"ThrottlingBurstLimit": 50},
        {"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 10.0},
        {"ThrottlingBurstLimit": 5000, "ThrottlingRateLimit": 20.0},
    ],
)
def test_a_missing_or_different_throttle_is_updated(current) -> None:
    update = default_route_settings_update(current, stage_throttling(50, 20))
    assert update is not None
    assert (update["ThrottlingBurstLimit"], update["ThrottlingRateLimit"]) == (50, 20.0)


def test_the_update_keeps_detailed_metrics_and_drops_websocket_only_settings() -> None:
    update = default_route_settings_update(
        {"DetailedMetricsEnabled": True, "LoggingLevel": "INFO", "DataTraceEnabled": False}, stage_throttling(7, 3)
    )
    assert update == {"DetailedMetricsEnabled": True, "ThrottlingBurstLimit": 7, "ThrottlingRateLimit": 3.0}
