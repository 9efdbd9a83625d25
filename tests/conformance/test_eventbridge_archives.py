"""An EventBridge archive comes with the rule AWS manages for it, events still reach the bus's other
targets, and that managed rule cannot be changed (deleted, or its targets removed, only with Force).

On AWS, CreateArchive adds a rule ``Events-Archive-<archive>`` on the source bus, managed by
EventBridge, with the archive's pattern plus ``"replay-name": [{"exists": false}]`` and one target
standing for the archive; DeleteArchive removes it. As recorded against real AWS by moto's
``aws_verified`` test tests/test_events/test_events.py::test_archive_actual_events
(github.com/getmoto/moto); https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html
("managed rules"), https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rules.html.
"""

from __future__ import annotations

import json

import pytest

from conformance._esm import create_queue, receive

pytestmark = pytest.mark.cloud

PATTERN = {"source": ["orderlab.archive-test"], "detail-type": ["OrderPlaced"]}


@pytest.fixture
def bus(lab):
    events = lab.client("events")
    name = lab.name("archive-bus")
    arn = events.create_event_bus(Name=name, Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()])["EventBusArn"]
    yield name, arn
    for rule in events.list_rules(EventBusName=name)["Rules"]:
        if rule.get("ManagedBy"):
            continue
        targets = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=name)["Targets"]]
        if targets:
            events.remove_targets(Rule=rule["Name"], EventBusName=name, Ids=targets)
        events.delete_rule(Name=rule["Name"], EventBusName=name)
    events.delete_event_bus(Name=name)


def test_an_archive_has_a_managed_rule_on_its_bus_until_it_is_deleted(lab, bus):
    events = lab.client("events")
    name, arn = bus
    archive = lab.name("archive")
    archive_arn = events.create_archive(ArchiveName=archive, EventSourceArn=arn, EventPattern=json.dumps(PATTERN))[
        "ArchiveArn"
    ]
    try:
        [rule] = events.list_rules(EventBusName=name)["Rules"]
        assert rule["Name"] == f"Events-Archive-{archive}"
        assert rule["ManagedBy"] == "prod.vhs.events.aws.internal"
        assert json.loads(rule["EventPattern"]) == {**PATTERN, "replay-name": [{"exists": False}]}
        [target] = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=name)["Targets"]
        assert target["Arn"] == f"arn:aws:events:{lab.region}:::"
        assert target["InputTransformer"]["InputPathsMap"] == {}
        template = target["InputTransformer"]["InputTemplate"]
        assert '"archive-arn"' in template and archive_arn in template
        assert '"event": <aws.events.event.json>' in template
    finally:
        events.delete_archive(ArchiveName=archive)
    assert events.list_rules(EventBusName=name)["Rules"] == []


def test_events_an_archive_matches_still_reach_the_bus_s_other_targets(lab, bus):
    events, sqs = lab.client("events"), lab.client("sqs")
    name, arn = bus
    archive = lab.name("archive-delivery")
    events.create_archive(ArchiveName=archive, EventSourceArn=arn, EventPattern=json.dumps(PATTERN))
    url, queue_arn = create_queue(lab, "archive-delivery")
    try:
        rule_arn = events.put_rule(Name=lab.name("to-queue"), EventBusName=name, EventPattern=json.dumps(PATTERN))[
            "RuleArn"
        ]
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": queue_arn,
                                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                            }
                        ],
                    }
                )
            },
        )
        events.put_targets(Rule=lab.name("to-queue"), EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        sent = events.put_events(
            Entries=[
                {
                    "EventBusName": name,
                    "Source": PATTERN["source"][0],
                    "DetailType": "OrderPlaced",
                    "Detail": json.dumps({"order": "o-1"}),
                }
            ]
        )
        assert sent["FailedEntryCount"] == 0
        [message] = receive(lab, url, 1, timeout=120)
        assert json.loads(message["Body"])["detail"] == {"order": "o-1"}
    finally:
        events.delete_archive(ArchiveName=archive)
        sqs.delete_queue(QueueUrl=url)


# ---------------------------------------------------------------- what AWS refuses to do to a managed rule
#
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html (ManagedRuleException,
# the same on each call's page): "This rule was created by an AWS service on behalf of your account. It is
# managed by that service. If you see this error in response to DeleteRule or RemoveTargets, you can use the
# Force parameter in those calls to delete the rule or remove targets from the rule. You cannot modify these
# managed rules by using DisableRule, EnableRule, PutTargets, PutRule, TagResource, or UntagResource."
# API_DeleteRule.html: "If this is a managed rule, created by an AWS service on your behalf, you must specify
# Force as True to delete the rule." The message of DeleteRule and RemoveTargets without Force is AWS's as
# quoted from real accounts (github.com/rebuy-de/aws-nuke/issues/448,
# github.com/hashicorp/terraform-provider-aws/pull/11897, github.com/cloud-custodian/cloud-custodian/issues/10308);
# the other calls' wording is not published, so only the code and the rule's name are checked.

FORCE_MESSAGE = "{} is a managed rule. Set 'force' parameter to true to override."


@pytest.fixture
def managed_rule(lab, bus):
    """The archive's managed rule (DescribeRule), the archive deleted afterwards."""
    events = lab.client("events")
    name, arn = bus
    archive = lab.name("archive-managed")
    events.create_archive(ArchiveName=archive, EventSourceArn=arn, EventPattern=json.dumps(PATTERN))
    try:
        rule = events.describe_rule(Name=f"Events-Archive-{archive}", EventBusName=name)
        yield {key: value for key, value in rule.items() if key != "ResponseMetadata"}
    finally:
        events.delete_archive(ArchiveName=archive)


def rule_state(events, rule: dict) -> dict:
    """What a refused call must leave as it was: the rule, its targets, its tags."""
    described = events.describe_rule(Name=rule["Name"], EventBusName=rule["EventBusName"])
    return {
        "rule": {key: value for key, value in described.items() if key != "ResponseMetadata"},
        "targets": events.list_targets_by_rule(Rule=rule["Name"], EventBusName=rule["EventBusName"])["Targets"],
        "tags": events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"],
    }


def target_ids(events, rule: dict) -> list[str]:
    targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=rule["EventBusName"])["Targets"]
    return [t["Id"] for t in targets]


REFUSED_CALLS = {
    "PutRule": lambda lab, events, rule: events.put_rule(
        Name=rule["Name"],
        EventBusName=rule["EventBusName"],
        EventPattern=json.dumps({"source": ["orderlab.someone-else"]}),
        State="DISABLED",
    ),
    "DisableRule": lambda lab, events, rule: events.disable_rule(Name=rule["Name"], EventBusName=rule["EventBusName"]),
    "EnableRule": lambda lab, events, rule: events.enable_rule(Name=rule["Name"], EventBusName=rule["EventBusName"]),
    "PutTargets": lambda lab, events, rule: events.put_targets(
        Rule=rule["Name"],
        EventBusName=rule["EventBusName"],
        Targets=[{"Id": "extra", "Arn": f"arn:aws:sqs:{lab.region}:{lab.account_id}:{lab.name('not-a-queue')}"}],
    ),
    "TagResource": lambda lab, events, rule: events.tag_resource(
        ResourceARN=rule["Arn"], Tags=[{"Key": "team", "Value": "orders"}]
    ),
    "UntagResource": lambda lab, events, rule: events.untag_resource(ResourceARN=rule["Arn"], TagKeys=["team"]),
    "DeleteRule": lambda lab, events, rule: events.delete_rule(Name=rule["Name"], EventBusName=rule["EventBusName"]),
    "RemoveTargets": lambda lab, events, rule: events.remove_targets(
        Rule=rule["Name"], EventBusName=rule["EventBusName"], Ids=target_ids(events, rule)
    ),
}


@pytest.mark.parametrize("call", sorted(REFUSED_CALLS))
def test_a_managed_rule_cannot_be_changed(lab, managed_rule, call):
    events = lab.client("events")
    before = rule_state(events, managed_rule)
    with pytest.raises(events.exceptions.ManagedRuleException) as refused:
        REFUSED_CALLS[call](lab, events, managed_rule)
    error = refused.value.response["Error"]
    assert error["Code"] == "ManagedRuleException"
    if call in ("DeleteRule", "RemoveTargets"):
        assert error["Message"] == FORCE_MESSAGE.format(managed_rule["Name"])
    else:
        assert managed_rule["Name"] in error["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    after = rule_state(events, managed_rule)
    assert after == before
    assert after["rule"]["State"] == "ENABLED" and len(after["targets"]) == 1


def test_force_removes_a_managed_rule_s_targets_and_deletes_it(lab, managed_rule):
    events = lab.client("events")
    rule, bus = managed_rule["Name"], managed_rule["EventBusName"]
    removed = events.remove_targets(Rule=rule, EventBusName=bus, Ids=target_ids(events, managed_rule), Force=True)
    assert removed["FailedEntryCount"] == 0
    assert events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"] == []
    events.delete_rule(Name=rule, EventBusName=bus, Force=True)
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name=rule, EventBusName=bus)


def test_an_ordinary_rule_beside_a_managed_one_changes_as_usual(lab, managed_rule):
    """Force "is ignored for rules that are not managed rules" (API_DeleteRule.html)."""
    events = lab.client("events")
    bus = managed_rule["EventBusName"]
    name = lab.name("ordinary-rule")
    tags = [{"Key": k, "Value": v} for k, v in lab.tags.items()]
    arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(PATTERN), Tags=tags)["RuleArn"]
    events.disable_rule(Name=name, EventBusName=bus)
    assert events.describe_rule(Name=name, EventBusName=bus)["State"] == "DISABLED"
    events.enable_rule(Name=name, EventBusName=bus)
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "orders"}])
    assert {"Key": "team", "Value": "orders"} in events.list_tags_for_resource(ResourceARN=arn)["Tags"]
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=arn)["Tags"]} == lab.tags
    queue = f"arn:aws:sqs:{lab.region}:{lab.account_id}:{lab.name('not-a-queue')}"
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue}])
    events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"], Force=True)
    events.delete_rule(Name=name, EventBusName=bus, Force=True)
    assert [r["Name"] for r in events.list_rules(EventBusName=bus)["Rules"]] == [managed_rule["Name"]]
