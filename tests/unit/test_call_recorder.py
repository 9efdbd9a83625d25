"""The AWS-call recorder's pure parts: what is read-only, what is redacted, and the code it writes."""

from __future__ import annotations

from helpers.core.calls import REDACTED, Call, CallLog, is_read_only, redact


def _log(*calls: Call) -> CallLog:
    log = CallLog()
    log.calls.extend(calls)
    return log


def test_reads_and_writes_are_told_apart() -> None:
    assert is_read_only("DescribeTable") and is_read_only("ListEventSourceMappings") and is_read_only("GetQueueUrl")
    assert not is_read_only("CreateQueue") and not is_read_only("PutMetricAlarm")
    assert not is_read_only("StartMessageMoveTask") and not is_read_only("SetQueueAttributes")


def test_secrets_are_redacted_at_any_depth_and_tokens_for_paging_are_kept() -> None:
    params = {
        "Name": "conn",
        "AuthParameters": {
            "BasicAuthParameters": {"Username": "u", "Password": "hunter2"},
            "OAuthParameters": {"ClientParameters": {"ClientID": "id", "ClientSecret": "s"}},
        },
        "Environment": {"Variables": {"API_TOKEN": "t0k", "ORDERS_TABLE": "alice-orders"}},
        "NextToken": "page-2",
        "ClientToken": "idem-1",
    }
    cleaned = redact(params)
    assert cleaned["AuthParameters"]["BasicAuthParameters"] == {"Username": "u", "Password": REDACTED}
    assert cleaned["AuthParameters"]["OAuthParameters"]["ClientParameters"]["ClientSecret"] == REDACTED
    assert cleaned["Environment"]["Variables"] == {"API_TOKEN": REDACTED, "ORDERS_TABLE": "alice-orders"}
    assert cleaned["NextToken"] == "page-2" and cleaned["ClientToken"] == "idem-1"
    assert params["AuthParameters"]["BasicAuthParameters"]["Password"] == "hunter2"  # the caller's dict untouched


def test_a_converged_run_says_nothing_changed() -> None:
    log = _log(
        Call("sqs", "GetQueueUrl", {"QueueName": "alice-orders"}, status=200),
        Call("sqs", "GetQueueAttributes", {"QueueUrl": "http://x/1/alice-orders"}, status=200),
    )
    assert log.summary() == "nothing changed: 2 read-only calls"
    assert log.code() == ""
    assert "nothing changed" in log._repr_html_() and "<pre>" not in log._repr_html_()


def test_code_repeats_only_successful_changes_and_reads_returned_values_from_responses() -> None:
    stream = "arn:aws:dynamodb:us-east-1:000000000000:table/alice-orders/stream/2026-12-04T12:00:00.000"
    log = _log(
        Call(
            "dynamodb",
            "DescribeTable",
            {"TableName": "alice-orders"},
            status=400,
            error_code="ResourceNotFoundException",
        ),
        Call(
            "dynamodb",
            "CreateTable",
            {"TableName": "alice-orders", "BillingMode": "PAY_PER_REQUEST"},
            status=200,
            response={"TableDescription": {"LatestStreamArn": stream}},
        ),
        Call(
            "lambda",
            "CreateEventSourceMapping",
            {"FunctionName": "alice-fn", "EventSourceArn": stream, "BatchSize": 10},
            status=202,
        ),
        Call(
            "lambda",
            "CreateFunction",
            {"FunctionName": "alice-fn2"},
            status=409,
            error_code="ResourceConflictException",
        ),
    )
    code = log.code()
    assert 'r2 = dynamodb.create_table(TableName="alice-orders", BillingMode="PAY_PER_REQUEST")' in code
    assert 'EventSourceArn=r2["TableDescription"]["LatestStreamArn"]' in code
    assert "describe_table" not in code and "alice-fn2" not in code
    assert code.splitlines()[:2] == ['dynamodb = lab.client("dynamodb")', 'lambda_ = lab.client("lambda")']
    compile(code, "<generated>", "exec")
    assert (
        log.summary()
        == "4 AWS calls: 2 changed something, 1 read-only (1 looked for something not there yet), 1 refused"
    )


def test_json_documents_are_written_as_json_dumps_and_the_table_is_escaped() -> None:
    log = _log(
        Call("iam", "PutRolePolicy", {"RoleName": "r", "PolicyDocument": '{"Version": "2012-10-17"}'}, status=200),
        Call(
            "sns",
            "Subscribe",
            {"TopicArn": "arn:aws:sns:us-east-1:0:t", "Endpoint": "<b>me@example.com</b>"},
            status=200,
        ),
    )
    assert 'PolicyDocument=json.dumps({"Version": "2012-10-17"})' in log.code()
    assert log.code().startswith("import json\n")
    assert "&lt;b&gt;" in log._repr_html_() and "<b>me" not in log._repr_html_()


def test_the_text_view_lists_changes_and_counts_reads() -> None:
    log = _log(
        Call("sqs", "GetQueueUrl", {"QueueName": "alice-dlq"}, status=400, error_code="QueueDoesNotExist"),
        Call("sqs", "CreateQueue", {"QueueName": "alice-dlq"}, status=200),
        Call("sqs", "GetQueueAttributes", {"QueueUrl": "http://x/0/alice-dlq"}, status=200),
        Call("sqs", "GetQueueAttributes", {"QueueUrl": "http://x/0/alice-dlq"}, status=200),
    )
    assert repr(log).splitlines() == [
        "4 AWS calls: 1 changed something, 3 read-only (1 looked for something not there yet)",
        "  sqs CreateQueue alice-dlq",
        "  and: GetQueueUrl, GetQueueAttributes ×2",
    ]
