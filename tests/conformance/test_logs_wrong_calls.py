"""CloudWatch Logs: a log group named by identifier, right and wrong, answered as AWS answers.

``logGroupIdentifier`` takes a group's name or its ``logGroupArn``; its ``arn`` (the one ending
in ``:*``, what DescribeLogGroups also returns) is refused. Expected text as recorded against real
AWS by moto's ``aws_verified`` tests (tests/test_logs/test_logs.py in github.com/getmoto/moto);
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html,
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogStreams.html
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

PATTERN_ERROR = (
    "1 validation error detected: Value at 'logGroupIdentifier' failed to satisfy constraint: "
    "Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*"
)


@pytest.fixture(scope="module")
def group(lab):
    logs = lab.client("logs")
    name = f"/orderlab/{lab.name('wrong-calls')}"
    logs.create_log_group(logGroupName=name, tags=lab.tags)
    logs.create_log_stream(logGroupName=name, logStreamName="stream")
    yield logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    logs.delete_log_group(logGroupName=name)


def test_the_group_can_be_named_by_name_or_log_group_arn(lab, group):
    logs = lab.client("logs")
    for identifier in (group["logGroupName"], group["logGroupArn"]):
        streams = logs.describe_log_streams(logGroupIdentifier=identifier)["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["stream"]
        logs.get_log_events(logGroupIdentifier=identifier, logStreamName="stream")


@pytest.mark.parametrize("operation", ["describe_log_streams", "get_log_events"])
def test_the_arn_ending_in_a_star_is_refused(lab, group, operation):
    assert group["arn"].endswith(":*")
    extra = {"logStreamName": "stream"} if operation == "get_log_events" else {}
    with pytest.raises(ClientError) as refused:
        getattr(lab.client("logs"), operation)(logGroupIdentifier=group["arn"], **extra)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert refused.value.response["Error"]["Message"] == PATTERN_ERROR
