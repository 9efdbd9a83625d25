"""EventBridge connections keep their credentials in a Secrets Manager secret, as on AWS; the
rules of a missing bus are refused.

AWS's behaviour as recorded by a test run against real AWS (moto's ``aws_verified``
tests/test_events/test_events.py::test_kms_key_is_created in github.com/getmoto/moto) and
documented in https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-target-connection.html
("EventBridge stores the authorization ... in a secret in AWS Secrets Manager").
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud


@pytest.mark.parametrize(
    "auth_type, parameters, stored",
    [
        (
            "API_KEY",
            {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}},
            {"api_key_name": "x-api-key", "api_key_value": "k"},
        ),
        (
            "BASIC",
            {
                "BasicAuthParameters": {"Username": "un", "Password": "pw"},
                "InvocationHttpParameters": {"HeaderParameters": [{"Key": "k1", "Value": "v1", "IsValueSecret": True}]},
            },
            {
                "username": "un",
                "password": "pw",
                "invocation_http_parameters": {
                    "header_parameters": [{"key": "k1", "value": "v1", "is_value_secret": True}]
                },
            },
        ),
    ],
)
def test_a_connection_s_credentials_live_in_a_secret_owned_by_events(lab, auth_type, parameters, stored):
    events, secrets = lab.client("events"), lab.client("secretsmanager")
    name = lab.name(f"connection-{auth_type.lower().replace('_', '-')}")
    events.create_connection(Name=name, AuthorizationType=auth_type, AuthParameters=parameters)
    try:
        secret_arn = events.describe_connection(Name=name)["SecretArn"]
        secret = secrets.describe_secret(SecretId=secret_arn)

        assert secret_arn.startswith(
            f"arn:aws:secretsmanager:{lab.region}:{lab.account_id}:secret:events!connection/{name}/"
        )
        assert secret["Name"].startswith(f"events!connection/{name}/")
        assert secret["OwningService"] == "events"
        assert secret["Tags"] == [{"Key": "aws:secretsmanager:owningService", "Value": "events"}]
        assert json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"]) == stored
    finally:
        events.delete_connection(Name=name)

    # Deleting the connection deletes its secret (asynchronously on AWS: bounded wait).
    for _ in range(30):
        try:
            secrets.describe_secret(SecretId=secret_arn)
        except ClientError as gone:
            assert gone.response["Error"]["Code"] == "ResourceNotFoundException"
            return
        time.sleep(1)
    raise AssertionError(f"secret {secret_arn} still there 30 s after its connection was deleted")


def test_rules_of_a_bus_that_does_not_exist_are_refused(lab):
    """A mistyped bus name is an error, not an empty list (moto's aws_verified
    tests/test_events/test_events_cloudformation.py::test_create_rule_with_targets)."""
    bus = lab.name("no-such-bus")
    with pytest.raises(ClientError) as refused:
        lab.client("events").list_rules(EventBusName=bus)
    assert refused.value.response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": f"Event bus {bus} does not exist.",
    }
