"""IAM answers with AWS's subset of attributes in List* calls (what a learner's code may rely on).

ListRoles and ListUsers carry no ``Tags`` (read them with ListRoleTags/ListUserTags),
ListPolicies neither ``Tags`` nor ``Description``; CreatePolicy answers without ``Description``,
GetPolicy with it and always with a ``Tags`` list. AWS's API reference
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html: "The following IAM
resource attributes are not included: PermissionsBoundary, RoleLastUsed, Tags"; API_ListUsers.html,
API_ListPolicies.html) and moto's ``aws_verified`` tests/test_iam/test_iam_response_attributes.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.cloud

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
READ_ONE_TABLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t",
            }
        ],
    }
)


def test_list_roles_leaves_tags_out_and_list_role_tags_has_them(lab):
    iam, path = lab.client("iam"), f"/conformance-{uuid.uuid4().hex[:8]}/"
    name = lab.name("shape-role")
    iam.create_role(
        RoleName=name,
        Path=path,
        AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
    )
    try:
        assert "Tags" in iam.get_role(RoleName=name)["Role"]
        [listed] = iam.list_roles(PathPrefix=path)["Roles"]
        assert listed["RoleName"] == name and "Tags" not in listed and "PermissionsBoundary" not in listed
        assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]} == lab.tags
    finally:
        iam.delete_role(RoleName=name)


@pytest.mark.parametrize("described", [True, False])
def test_policy_attributes_per_call(lab, described):
    iam, path = lab.client("iam"), f"/conformance-{uuid.uuid4().hex[:8]}/"
    extra = {"Description": "read one table", "Tags": [{"Key": "lab", "Value": lab.prefix}]} if described else {}
    arn = iam.create_policy(PolicyName=lab.name("shape-policy"), Path=path, PolicyDocument=READ_ONE_TABLE, **extra)[
        "Policy"
    ]
    try:
        assert "Description" not in arn and ("Tags" in arn) is described
        got = iam.get_policy(PolicyArn=arn["Arn"])["Policy"]
        assert ("Description" in got) is described and "Tags" in got
        [listed] = iam.list_policies(PathPrefix=path, Scope="Local")["Policies"]
        assert "Description" not in listed and "Tags" not in listed
    finally:
        iam.delete_policy(PolicyArn=arn["Arn"])
