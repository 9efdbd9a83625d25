"""Hooks the DynamoDB fixes (request rules, resource policies, stream records) into MiniStack."""

from __future__ import annotations

from typing import Any

from localcloud.patches import wrap
from localcloud.services.dynamodb import policies, requests, streams

POLICY_LIMIT_BYTES = 20 * 1024  # MiniStack refuses larger policies with AWS's LimitExceededException


def _apply_resource_policies() -> None:
    from ministack.core.responses import error_response_json, json_response
    from ministack.services import dynamodb

    def table_named(arn: Any) -> str | None:
        name = dynamodb._table_name_from_arn(arn) if isinstance(arn, str) else None
        return name if isinstance(name, str) else None

    def unknown_table(arn: Any) -> tuple | None:
        name = table_named(arn)
        if name is None or dynamodb._resource_arn_exists(arn):
            return None
        return error_response_json(
            "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found", 400
        )

    def make_put(original):
        def _put_resource_policy(data: dict) -> tuple:
            arn, policy = data.get("ResourceArn"), data.get("Policy")
            if not arn or not isinstance(policy, str) or len(policy.encode()) > POLICY_LIMIT_BYTES:
                return original(data)
            if refusal := unknown_table(arn):
                return refusal
            outcome, text = policies.put(
                dynamodb._resource_policies, arn, policy, str(table_named(arn)), data.get("ExpectedRevisionId")
            )
            if outcome == "conflict":
                return error_response_json("PolicyNotFoundException", text, 400)
            return json_response({"RevisionId": text})

        return _put_resource_policy

    def make_get(original):
        def _get_resource_policy(data: dict) -> tuple:
            arn = data.get("ResourceArn")
            if arn and (refusal := unknown_table(arn)):
                return refusal
            if arn and table_named(arn) and arn not in dynamodb._resource_policies:
                return error_response_json("PolicyNotFoundException", policies.NOT_FOUND + arn, 400)
            return original(data)

        return _get_resource_policy

    def make_delete(original):
        def _delete_resource_policy(data: dict) -> tuple:
            arn = data.get("ResourceArn")
            if arn and (refusal := unknown_table(arn)):
                return refusal
            existing = dynamodb._resource_policies.get(arn) if arn else None
            if existing:
                message = policies.revision_conflict(
                    data.get("ExpectedRevisionId"), existing.get("RevisionId"), str(table_named(arn))
                )
                if message:
                    return error_response_json("PolicyNotFoundException", message, 400)
            return original(data)

        return _delete_resource_policy

    wrap(dynamodb, "_put_resource_policy", make_put)
    wrap(dynamodb, "_get_resource_policy", make_get)
    wrap(dynamodb, "_delete_resource_policy", make_delete)


def apply() -> None:
    """Apply the DynamoDB fixes; e.g. ``apply()`` twice is a no-op."""
    requests.apply()
    _apply_resource_policies()
    streams.apply()
