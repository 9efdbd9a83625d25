"""The pure parts of the local cloud's EventBridge Pipes runtime (localcloud/services/pipes/models.py).

AWS documentation followed:
- Input transformation (templates, reserved variables, implicit body parsing, quoting):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html
- Filtering (SQS body as JSON, DynamoDB numbers are strings):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html
- Batching (BatchSize, MaximumBatchingWindowInSeconds, target batch limits):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html
- Enrichment ("", {}, [] invoke no target): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html
- States and UpdatePipe: https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_DescribePipe.html,
  https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_UpdatePipe.html
"""

from __future__ import annotations

import json

import pytest

from localcloud.services.eventbridge.patterns import InvalidEventPattern
from localcloud.services.pipes import responses as pipes
from localcloud.services.pipes.models import (
    MISSING,
    PipeConfig,
    PipeConflict,
    batch_wait,
    begin_transition,
    collect_batch,
    compile_filters,
    configuration_error,
    dead_letter_record,
    decoded_event,
    dynamic_parameter,
    enrichment_events,
    json_path,
    merge_update,
    render_template,
    settled_state,
    sqs_record,
    template_value,
)

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:high-value"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:enricher"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
PIPE = "arn:aws:pipes:us-east-1:123456789012:pipe/high-value"
VARIABLES = {
    "pipe-arn": PIPE,
    "pipe-name": "high-value",
    "source-arn": STREAM,
    "enrichment-arn": "",
    "target-arn": QUEUE,
}

SQS_EVENT = {
    "messageId": "m-1",
    "body": '{"orderId": "o-1", "total": 1500, "items": [{"sku": "a"}, {"sku": "b"}]}',
    "attributes": {"SenderId": "AIDAEXAMPLE"},
    "eventSource": "aws:sqs",
    "eventSourceARN": QUEUE,
}
DDB_EVENT = {
    "eventID": "e-1",
    "eventName": "INSERT",
    "eventSource": "aws:dynamodb",
    "eventSourceARN": STREAM,
    "dynamodb": {
        "Keys": {"orderId": {"S": "o-1"}},
        "NewImage": {"orderId": {"S": "o-1"}, "total": {"N": "1500"}, "valueTier": {"S": "HIGH"}},
        "SequenceNumber": "100",
        "ApproximateCreationDateTime": 1700000000,
    },
}


def render(template: str, event=SQS_EVENT) -> str:
    return render_template(template, event, VARIABLES, now=1700000000.123)


# --------------------------------------------------------------------------- JSON paths, body parsing


def test_json_path_dot_index_and_wildcard():
    value = {"a": {"b-c": [{"d_e": 1}, {"d_e": 2}]}}
    assert json_path(value, "$.a.b-c[1].d_e") == 2
    assert json_path(value, "$.a.b-c[*].d_e") == [1, 2]
    assert json_path(value, "$") == value
    assert json_path(value, "$.a.nope") is MISSING
    assert json_path(value, "$.a.b-c[5]") is MISSING


def test_sqs_body_is_decoded_only_when_it_is_a_json_object_or_array():
    assert decoded_event(SQS_EVENT)["body"]["total"] == 1500
    plain = {**SQS_EVENT, "body": "hello"}
    assert decoded_event(plain)["body"] == "hello"
    assert decoded_event({**SQS_EVENT, "body": "123"})["body"] == "123"
    assert decoded_event(DDB_EVENT) is DDB_EVENT


# --------------------------------------------------------------------------- input templates


def test_static_string_and_dynamic_string_templates():
    assert render("Hello, sender") == "Hello, sender"
    assert render("Hello, <$.attributes.SenderId>") == "Hello, AIDAEXAMPLE"
    assert render("<$.attributes.SenderId>") == "AIDAEXAMPLE"


def test_json_template_quotes_strings_and_inserts_numbers_objects_and_arrays_as_json():
    out = render('{"id": <$.body.orderId>, "total": <$.body.total>, "items": <$.body.items>, "k": "v"}')
    assert json.loads(out) == {"id": "o-1", "total": 1500, "items": [{"sku": "a"}, {"sku": "b"}], "k": "v"}


def test_json_template_with_an_already_quoted_string_variable_stays_valid():
    out = render('{"sentence": "order <$.body.orderId> totals <$.body.total>", "id": "<$.body.orderId>"}')
    assert json.loads(out) == {"sentence": "order o-1 totals 1500", "id": "o-1"}


def test_json_template_escapes_quotes_in_string_values():
    event = {**SQS_EVENT, "body": json.dumps({"note": 'say "hi"'})}
    assert json.loads(render_template('{"n": <$.body.note>, "t": "x <$.body.note>"}', event, VARIABLES, now=0)) == {
        "n": 'say "hi"',
        "t": 'x say "hi"',
    }


def test_object_inside_text_loses_its_quotes():
    # "For example, {"key": "value"} will become {key: value}" (implicit body data parsing)
    event = {**SQS_EVENT, "body": '{"key": "value"}'}
    assert render_template("<$.body>", event, VARIABLES, now=0) == "{key: value}"
    assert render_template("Body is <$.body>", event, VARIABLES, now=0) == "Body is {key: value}"


def test_wrapping_the_body_in_json_keeps_it_json():
    event = {**SQS_EVENT, "body": '{"key": "value"}'}
    assert json.loads(render_template('{"data": <$.body>}', event, VARIABLES, now=0)) == {"data": {"key": "value"}}


def test_reserved_variables():
    out = json.loads(
        render(
            '{"arn": <aws.pipes.pipe-arn>, "name": <aws.pipes.pipe-name>, '
            '"source": <aws.pipes.source-arn>, "target": "<aws.pipes.target-arn>", '
            '"at": <aws.pipes.event.ingestion-time>}'
        )
    )
    assert out == {
        "arn": PIPE,
        "name": "high-value",
        "source": STREAM,
        "target": QUEUE,
        "at": "2023-11-14T22:13:20.123Z",
    }


def test_aws_pipes_event_is_escaped_text_and_event_json_is_the_decoded_event():
    out = json.loads(render('{"raw": <aws.pipes.event>, "json": <aws.pipes.event.json>}'))
    assert json.loads(out["raw"]) == SQS_EVENT  # the event, as a JSON string
    assert out["json"]["body"]["orderId"] == "o-1"  # body decoded: usable as JSON
    plain = render_template('{"json": <aws.pipes.event.json>}', "not json", VARIABLES, now=0)
    assert json.loads(plain) == {"json": None}  # no value for a non-JSON payload


def test_a_path_that_matches_nothing_is_null_in_json_and_empty_in_text():
    assert json.loads(render('{"x": <$.body.absent>}')) == {"x": None}
    assert render("x=<$.body.absent>;") == "x=;"
    assert json.loads(render('{"e": <aws.pipes.enrichment-arn>}')) == {"e": None}


def test_dynamodb_record_fields_and_array_index():
    out = json.loads(
        render(
            '{"id": <$.dynamodb.NewImage.orderId.S>, "total": <$.dynamodb.NewImage.total.N>, '
            '"first": <$.body.items[0].sku>}',
            DDB_EVENT,
        )
    )
    assert out == {"id": "o-1", "total": "1500", "first": None}


def test_template_value_for_a_lambda_batch():
    assert template_value('{"a": 1}') == {"a": 1}
    assert template_value("Hello, x") == "Hello, x"


def test_dynamic_target_parameters():
    assert dynamic_parameter("$.body.orderId", SQS_EVENT) == "o-1"
    assert dynamic_parameter("static-group", SQS_EVENT) == "static-group"
    assert dynamic_parameter("$.body.absent", SQS_EVENT) is None
    assert dynamic_parameter(None, SQS_EVENT) is None


# --------------------------------------------------------------------------- enrichment


@pytest.mark.parametrize(
    "payload, events",
    [
        ([{"a": 1}, {"b": 2}], [{"a": 1}, {"b": 2}]),
        ({"a": 1}, [{"a": 1}]),
        ("", []),
        ({}, []),
        ([], []),
        (None, []),
        ('""', []),
        ("{}", []),
        ("[{}]", [{}]),  # "to invoke the target with an empty payload, return [{}]"
        ("plain text", ["plain text"]),
    ],
)
def test_enrichment_result_becomes_the_batch(payload, events):
    assert enrichment_events(payload) == events


# --------------------------------------------------------------------------- batching


def test_collect_batch_takes_matching_records_up_to_the_batch_size():
    records = [{"v": v} for v in (1, 2, 3, 4, 5, 6)]
    even = lambda r: r["v"] % 2 == 0  # noqa: E731
    assert collect_batch(records, 2, even) == ([1, 3], 4)  # full: consumed through its last event
    assert collect_batch(records, 10, even) == ([1, 3, 5], 6)  # not full: everything read is consumed
    assert collect_batch(records, 10, lambda r: False) == ([], 6)
    assert collect_batch([], 10, even) == ([], 0)


def test_batch_waits_for_the_window_unless_full():
    assert batch_wait(0, 10, 5, first_seen=100, now=100) is None
    assert batch_wait(3, 10, 0, first_seen=100, now=100) == 0.0  # no window: at once
    assert batch_wait(3, 10, 5, first_seen=100, now=102) == 3.0  # window counted from the first event
    assert batch_wait(3, 10, 5, first_seen=100, now=106) == 0.0  # window over
    assert batch_wait(10, 10, 5, first_seen=100, now=100) == 0.0  # full


def test_default_batch_sizes_respect_the_target():
    base = {"Name": "p", "Arn": PIPE, "RoleArn": "arn:aws:iam::123456789012:role/r"}
    stream_to_lambda = PipeConfig.from_record(
        {
            **base,
            "Source": STREAM,
            "Target": FUNCTION,
            "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
        }
    )
    stream_to_queue = PipeConfig.from_record({**base, "Source": STREAM, "Target": QUEUE})
    queue_to_lambda = PipeConfig.from_record({**base, "Source": QUEUE, "Target": FUNCTION})
    assert (stream_to_lambda.batch_size, stream_to_queue.batch_size, queue_to_lambda.batch_size) == (100, 10, 10)
    assert (stream_to_lambda.max_retries, stream_to_lambda.max_age_seconds, stream_to_lambda.window_seconds) == (
        -1,
        -1,
        0,
    )
    assert stream_to_lambda.invocation_type == "REQUEST_RESPONSE"


# --------------------------------------------------------------------------- filtering


def _config(source: str, pattern: dict) -> PipeConfig:
    return PipeConfig.from_record(
        {
            "Name": "p",
            "Arn": PIPE,
            "Source": source,
            "Target": QUEUE,
            "SourceParameters": {"FilterCriteria": {"Filters": [{"Pattern": json.dumps(pattern)}]}},
        }
    )


def test_numeric_filter_never_matches_a_dynamodb_number_but_matches_a_json_body_number():
    numeric_on_n = _config(STREAM, {"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">=", 1000]}]}}}})
    assert not numeric_on_n.matches(DDB_EVENT)
    numeric_on_body = _config(QUEUE, {"body": {"total": [{"numeric": [">=", 1000]}]}})
    assert numeric_on_body.matches(SQS_EVENT)
    assert not numeric_on_body.matches({**SQS_EVENT, "body": '{"total": 999}'})


def test_filters_are_ored_and_plain_bodies_do_not_match_json_patterns():
    config = PipeConfig.from_record(
        {
            "Name": "p",
            "Arn": PIPE,
            "Source": QUEUE,
            "Target": QUEUE,
            "SourceParameters": {
                "FilterCriteria": {
                    "Filters": [
                        {"Pattern": '{"body": {"orderId": ["o-9"]}}'},
                        {"Pattern": '{"body": {"total": [1500]}}'},
                    ]
                }
            },
        }
    )
    assert config.matches(SQS_EVENT)
    assert not config.matches({**SQS_EVENT, "body": "orderId o-9"})
    assert PipeConfig.from_record({"Name": "p", "Arn": PIPE, "Source": QUEUE, "Target": QUEUE}).matches(SQS_EVENT)


def test_invalid_pattern_raises_eventbridge_message():
    with pytest.raises(InvalidEventPattern, match=r"^Event pattern is not valid\. Reason: "):
        compile_filters({"FilterCriteria": {"Filters": [{"Pattern": '{"a": 1}'}]}})
    assert compile_filters({"FilterCriteria": {"Filters": []}}) == ()


# --------------------------------------------------------------------------- validation


def _error(
    source=STREAM,
    target=QUEUE,
    enrichment=None,
    source_parameters=None,
    target_parameters=None,
    enrichment_parameters=None,
):
    if source_parameters is None:
        source_parameters = (
            {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}} if ":dynamodb:" in source else {}
        )
    return configuration_error(
        source, target, enrichment, source_parameters, target_parameters or {}, enrichment_parameters or {}
    )


def test_supported_configurations_pass():
    assert _error() is None
    assert (
        _error(
            target=FUNCTION,
            enrichment=FUNCTION,
            target_parameters={"LambdaFunctionParameters": {"InvocationType": "FIRE_AND_FORGET"}},
        )
        is None
    )
    assert _error(source=QUEUE, target=TOPIC, source_parameters={"SqsQueueParameters": {"BatchSize": 10}}) is None


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (
            {"target": "arn:aws:states:us-east-1:123456789012:stateMachine:sm"},
            "supports an Amazon SQS queue, an AWS Lambda",
        ),
        ({"source": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}, "supports a DynamoDB stream or an Amazon SQS"),
        ({"enrichment": "arn:aws:states:us-east-1:123456789012:stateMachine:sm"}, "as the enrichment"),
        ({"source_parameters": {"DynamoDBStreamParameters": {}}}, "StartingPosition is required"),
        (
            {"source_parameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 11}}},
            "BatchSize 11 is larger than the 10",
        ),
        (
            {
                "source_parameters": {
                    "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "MaximumBatchingWindowInSeconds": 301}
                }
            },
            "between 0 and 300",
        ),
        ({"source_parameters": {"SqsQueueParameters": {"BatchSize": 5}}}, "does not apply to the source"),
        (
            {"target_parameters": {"LambdaFunctionParameters": {"InvocationType": "REQUEST_RESPONSE"}}},
            "TargetParameters.LambdaFunctionParameters does not apply",
        ),
        (
            {
                "source_parameters": {
                    "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "DeadLetterConfig": {"Arn": FUNCTION}}
                }
            },
            "DeadLetterConfig.Arn must be",
        ),
    ],
)
def test_unsupported_or_invalid_configurations_are_refused(kwargs, fragment):
    error = _error(**kwargs)
    assert error is not None and fragment in error


# --------------------------------------------------------------------------- state machine


def test_lifecycle_transitions():
    assert begin_transition("RUNNING", "stop") == "STOPPING"
    assert settled_state("STOPPING", "STOPPED") == "STOPPED"
    assert begin_transition("STOPPED", "start") == "STARTING"
    assert settled_state("STARTING", "RUNNING") == "RUNNING"
    assert begin_transition("RUNNING", "update") == "UPDATING"
    assert settled_state("UPDATING", "STOPPED") == "STOPPED"
    assert settled_state("CREATING", "RUNNING") == "RUNNING"
    assert settled_state("CREATING", "STOPPED") == "STOPPED"
    assert begin_transition("CREATE_FAILED", "update") == "UPDATING"
    assert settled_state(begin_transition("STOPPED", "delete"), "STOPPED") == "DELETED"


def test_calls_that_change_nothing_and_calls_during_a_transition():
    assert begin_transition("RUNNING", "start") is None
    assert begin_transition("STOPPED", "stop") is None
    assert begin_transition("DELETING", "delete") is None
    assert begin_transition("STOPPING", "delete") == "DELETING"  # DeletePipe is always accepted
    for state in ("CREATING", "STARTING", "STOPPING", "UPDATING", "DELETING"):
        for action in ("start", "stop", "update"):
            with pytest.raises(PipeConflict):
                begin_transition(state, action)


# --------------------------------------------------------------------------- UpdatePipe merge


def test_update_changes_only_what_it_names_and_replaces_parameter_objects_whole():
    current = {
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "Target": QUEUE,
        "Description": "d",
        "Enrichment": FUNCTION,
        "EnrichmentParameters": {"InputTemplate": "<$.x>"},
        "SourceParameters": {
            "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 5, "MaximumRetryAttempts": 3},
            "FilterCriteria": {"Filters": [{"Pattern": "{}"}]},
        },
        "TargetParameters": {"InputTemplate": "t"},
    }
    merged = merge_update(
        current,
        {
            "RoleArn": "arn:aws:iam::123456789012:role/r2",
            "SourceParameters": {"DynamoDBStreamParameters": {"BatchSize": 7}},
        },
    )
    assert merged["RoleArn"].endswith("/r2") and merged["Target"] == QUEUE and merged["Description"] == "d"
    assert merged["SourceParameters"]["DynamoDBStreamParameters"] == {
        "BatchSize": 7,
        "StartingPosition": "TRIM_HORIZON",
    }
    assert merged["SourceParameters"]["FilterCriteria"] == current["SourceParameters"]["FilterCriteria"]
    assert merged["TargetParameters"] == {"InputTemplate": "t"}
    removed = merge_update(current, {"Enrichment": "", "SourceParameters": {"FilterCriteria": {}}})
    assert "Enrichment" not in removed and "EnrichmentParameters" not in removed
    assert "FilterCriteria" not in removed["SourceParameters"]


# --------------------------------------------------------------------------- records


def test_sqs_record_has_the_lambda_event_shape():
    message = {
        "id": "m-1",
        "body": "hi",
        "receipt_handle": "rh",
        "receive_count": 2,
        "sent_at": 1700000000.5,
        "first_receive_at": 1700000001.0,
        "md5_body": "49f68a5c8493ec2c0bf489821c21fc3b",
        "message_attributes": {"kind": {"DataType": "String", "StringValue": "x"}},
        "group_id": "g",
        "dedup_id": "d",
        "seq": 7,
    }
    record = sqs_record(message, QUEUE, "us-east-1", "123456789012", now=1700000002.0)
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh",
        "body": "hi",
        "attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1700000000500",
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": "1700000001000",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "d",
            "SequenceNumber": "7",
        },
        "messageAttributes": {"kind": {"dataType": "String", "stringValue": "x"}},
        "md5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE,
        "awsRegion": "us-east-1",
    }


def test_dead_letter_record_names_the_discarded_stream_records():
    second = {**DDB_EVENT, "dynamodb": {**DDB_EVENT["dynamodb"], "SequenceNumber": "101"}}
    record = dead_letter_record(
        pipe_arn=PIPE,
        condition="RetryAttemptsExhausted",
        attempts=3,
        reason="boom",
        records=[DDB_EVENT, second],
        stream_arn=STREAM,
        shard_id="shard-1",
        now=1700000000,
    )
    assert record["requestContext"]["pipeArn"] == PIPE
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["DDBStreamBatchInfo"] == {
        "shardId": "shard-1",
        "startSequenceNumber": "100",
        "endSequenceNumber": "101",
        "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
        "approximateArrivalOfLastRecord": "2023-11-14T22:13:20Z",
        "batchSize": 2,
        "streamArn": STREAM,
    }


def test_describe_answers_the_parameters_it_was_given():
    record = {
        "Name": "p",
        "Arn": PIPE,
        "DesiredState": "RUNNING",
        "CurrentState": "RUNNING",
        "Source": STREAM,
        "Target": QUEUE,
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "CreationTime": 1,
        "LastModifiedTime": 2,
        "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
        "TargetParameters": {"InputTemplate": "x"},
        "_orderlab_id": "internal",
    }
    body = pipes.describe(record)
    assert body["SourceParameters"] == record["SourceParameters"] and body["TargetParameters"] == {"InputTemplate": "x"}
    assert "Enrichment" not in body and "_orderlab_id" not in body
