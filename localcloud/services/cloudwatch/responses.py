"""CloudWatch API calls the local cloud answers itself: PutMetricAlarm, SetAlarmState, PutMetricData,
GetMetricData's Metrics Insights queries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from localcloud.services.cloudwatch import insights
from localcloud.services.cloudwatch.alarms import STATES
from localcloud.services.cloudwatch.api import alarm_request, datum_resolutions, validation_error
from localcloud.services.cloudwatch.api import p as _p
from localcloud.services.cloudwatch.runtime import _alarm_period, _history, _rt, transition


def make_put_metric_alarm(original: Callable[..., Any]) -> Callable[..., Any]:
    def _put_metric_alarm(params, cbor_data, is_cbor, is_json=False):
        from ministack.core.responses import get_account_id, get_region
        from ministack.services import cloudwatch

        request = alarm_request(params, cbor_data or {}, bool(is_cbor or is_json))
        error = validation_error(request)
        if error:
            return cloudwatch._error("ValidationError", error, 400, use_json=is_json, use_cbor=is_cbor)
        name = request["AlarmName"]
        existed = name in cloudwatch._alarms
        response = original(params, cbor_data, is_cbor, is_json)
        alarm = cloudwatch._alarms.get(name)
        if response[0] != 200 or alarm is None:
            return response
        now = time.time()
        _complete_alarm(alarm, request, bool(is_cbor or is_json), now)
        if not existed:
            _drop_bogus_creation_entry(name)
        config = {k: v for k, v in alarm.items() if not k.startswith("State")}
        _history(
            name,
            "MetricAlarm",
            "ConfigurationUpdate",
            f'Alarm "{name}" {"updated" if existed else "created"}',
            {
                "version": "1.0",
                "type": "Update" if existed else "Create",
                "updatedAlarm" if existed else "createdAlarm": config,
            },
            now,
        )
        _rt.fresh.add((get_account_id(), get_region(), name))
        if _alarm_period(alarm) < 60:
            _rt.high_resolution = True
        if _rt.wake is not None:
            _rt.wake.set()
        return response

    return _put_metric_alarm


def _complete_alarm(alarm: dict, request: dict[str, Any], structured: bool, now: float) -> None:
    """Fields MiniStack does not keep (or keeps where AWS has none)."""
    if request.get("Metrics"):
        alarm["Metrics"] = request["Metrics"]
        for key in ("Statistic", "ExtendedStatistic", "Period", "MetricName", "Namespace", "Unit"):
            alarm.pop(key, None)
    elif request.get("ExtendedStatistic"):
        alarm.pop("Statistic", None)
    else:
        alarm.pop("ExtendedStatistic", None)
    if alarm.get("Unit") is None:
        alarm.pop("Unit", None)
    if not request.get("AlarmDescription") and not alarm.get("AlarmDescription"):
        alarm.pop("AlarmDescription", None)  # AWS describes only what was set
    if request.get("EvaluateLowSampleCountPercentile"):
        alarm["EvaluateLowSampleCountPercentile"] = request["EvaluateLowSampleCountPercentile"]
    if not structured:
        alarm["InsufficientDataActions"] = request.get("InsufficientDataActions") or []
    alarm["AlarmConfigurationUpdatedTimestamp"] = round(now, 3)


def _drop_bogus_creation_entry(name: str) -> None:
    from ministack.services import cloudwatch

    entries = cloudwatch._history_entries()
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if (
            entry.get("AlarmName") == name
            and entry.get("HistoryItemType") == "StateUpdate"
            and entry.get("HistorySummary") == "Alarm updated from INSUFFICIENT_DATA to INSUFFICIENT_DATA"
        ):
            del entries[index]
            return


def make_set_alarm_state(original: Callable[..., Any]) -> Callable[..., Any]:
    def _set_alarm_state(params, cbor_data, is_cbor, is_json=False):
        from ministack.services import cloudwatch

        structured = bool(is_cbor or is_json)
        body = cbor_data or {}
        name = body.get("AlarmName", "") if structured else _p(params, "AlarmName")
        state = body.get("StateValue", "") if structured else _p(params, "StateValue")
        reason = body.get("StateReason", "") if structured else _p(params, "StateReason")
        reason_data = body.get("StateReasonData", "") if structured else _p(params, "StateReasonData")
        if state not in STATES:
            return cloudwatch._error(
                "ValidationError",
                f"1 validation error detected: Value '{state}' at 'stateValue' failed to satisfy "
                "constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]",
                400,
                use_json=is_json,
                use_cbor=is_cbor,
            )
        if reason_data:
            try:
                json.loads(reason_data)
            except ValueError:
                return cloudwatch._error(
                    "InvalidFormat", "StateReasonData is not valid JSON.", 400, use_json=is_json, use_cbor=is_cbor
                )
        alarm = cloudwatch._alarms.get(name)
        if alarm is None:  # a composite alarm, or none: MiniStack's answer
            return original(params, cbor_data, is_cbor, is_json)
        now = time.time()
        if state != alarm.get("StateValue"):
            transition(alarm, state, reason, reason_data or None, now)
        else:
            alarm["StateReason"] = reason
            if reason_data:
                alarm["StateReasonData"] = reason_data
            alarm["StateUpdatedTimestamp"] = round(now, 3)
        if is_cbor:
            return cloudwatch._cbor_ok({})
        if is_json:
            return cloudwatch._json_ok({})
        return cloudwatch._xml(200, "SetAlarmStateResponse", "")

    return _set_alarm_state


def make_put_metric_data(original: Callable[..., Any]) -> Callable[..., Any]:
    """Remember which datapoints are high resolution (StorageResolution 1): a 10-30 s alarm sees
    them second by second, and standard ones at their minute."""

    def _put_metric_data(params, cbor_data, is_cbor, is_json=False):
        from ministack.services import cloudwatch

        datums = datum_resolutions(params, cbor_data or {}, bool(is_cbor or is_json))
        if not any(resolution == 1 for _, _, resolution, _ in datums):
            return original(params, cbor_data, is_cbor, is_json)
        keys = {key for key, _, _, _ in datums}
        before = {key: len(cloudwatch._metrics.get(key) or []) for key in keys}
        response = original(params, cbor_data, is_cbor, is_json)
        cursor = dict(before)
        for key, _, resolution, count in datums:
            points = cloudwatch._metrics.get(key) or []
            for point in points[cursor[key] : cursor[key] + count]:
                if resolution == 1:
                    point["StorageResolution"] = 1
            cursor[key] += count
        return response

    return _put_metric_data


def _dimensions(key: str) -> dict[str, str]:
    """MiniStack's dimension key (``a=1|b=2``) as a dict."""
    return dict(part.partition("=")[::2] for part in key.split("|")) if key else {}


def _insights_results(queries: list[dict], request: dict[str, Any]) -> dict[str, list[dict]]:
    """The MetricDataResults of each Metrics Insights query by Id (ISO timestamps, MiniStack's internal form)."""
    from ministack.services import cloudwatch

    start = cloudwatch._parse_ts(request.get("StartTime")) or 0.0
    end = cloudwatch._parse_ts(request.get("EndTime")) or time.time()
    metrics = [(ns, name, _dimensions(dk), list(points)) for (ns, name, dk), points in cloudwatch._metrics.items()]
    descending = request.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    results: dict[str, list[dict]] = {}
    for query in queries:
        parsed = insights.parse(query["Expression"])
        series = insights.run(parsed, metrics, start, end, int(query.get("Period") or 60), cloudwatch._calc_stats)
        results[query["Id"]] = []
        for each in series:
            points = sorted(each.points, reverse=descending)
            results[query["Id"]].append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label") or each.label or query["Id"],
                    "Timestamps": [cloudwatch._ts_iso(at) for at, _ in points],
                    "Values": [value for _, value in points],
                    "StatusCode": "Complete",
                }
            )
    return results


def _iso_timestamps(result: dict, to_iso: Callable[[float], str]) -> dict:
    """A decoded result with its Timestamps (datetimes or epoch numbers) back as ISO strings."""
    stamps = [
        s if isinstance(s, str) else to_iso(s.timestamp() if hasattr(s, "timestamp") else float(s))
        for s in result.get("Timestamps") or []
    ]
    return {**result, "Timestamps": stamps}


def make_get_metric_data(original: Callable[..., Any]) -> Callable[..., Any]:
    """GetMetricData that runs Metrics Insights ``SELECT`` queries (:mod:`.insights`) beside MiniStack's
    own MetricStat and math queries, over the JSON and CBOR protocols the SDKs use."""
    from ministack.services import cloudwatch

    def _get_metric_data(params: dict, body: dict, is_cbor: bool, is_json: bool = False) -> tuple:
        queries = list((body or {}).get("MetricDataQueries") or []) if (is_cbor or is_json) else []
        selects = [q for q in queries if insights.looks_like_insights(q.get("Expression"))]
        if not selects:
            return original(params, body, is_cbor, is_json)
        for query in selects:
            try:
                insights.parse(query["Expression"])
            except insights.InsightsError as exc:
                return cloudwatch._error(
                    "ValidationError", f"Error in expression '{query.get('Id')}': {exc}", 400, is_json, is_cbor
                )
        ours = _insights_results(selects, body)
        others = [q for q in queries if q not in selects]
        theirs: list[dict] = []
        if others:
            status, headers, raw = original(params, {**body, "MetricDataQueries": others}, is_cbor, is_json)
            if status != 200:
                return status, headers, raw
            if is_cbor:
                import cbor2

                decoded = cbor2.loads(raw)
            else:
                decoded = json.loads(raw)
            theirs = [_iso_timestamps(r, cloudwatch._ts_iso) for r in decoded.get("MetricDataResults") or []]
        merged: list[dict] = []
        for query in queries:
            if query in selects:
                merged.extend(ours[query["Id"]] if query.get("ReturnData", True) else [])
            elif theirs and (query.get("Expression") or query.get("ReturnData", True)):
                merged.append(theirs.pop(0))
        if is_cbor:
            return cloudwatch._cbor_ok({"MetricDataResults": [cloudwatch._cbor_metric_data_result(r) for r in merged]})
        return cloudwatch._json_ok({"MetricDataResults": merged})

    return _get_metric_data
