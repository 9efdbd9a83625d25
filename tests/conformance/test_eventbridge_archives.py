"""An EventBridge archive comes with the rule AWS manages for it, and events still reach the bus's
other targets.

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
