"""Hooks the DynamoDB fixes (request rules, resource policies, stream records) into MiniStack."""

from __future__ import annotations

import json
from typing import Any

from localcloud.patches import wrap
from localcloud.services.dynamodb import policies, requests, streams, transfers

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


def _apply_transfers() -> None:
    from ministack.core.responses import error_response_json
    from ministack.services import dynamodb, s3

    def make_export(original):
        def _export_table_to_point_in_time(data: dict) -> tuple:
            name = dynamodb._table_name_from_arn(data.get("TableArn") or "")
            if name and name in dynamodb._tables:
                message = transfers.pitr_error(name, pitr_enabled=bool(dynamodb._pitr_settings.get(name, False)))
                if message:
                    return error_response_json("PointInTimeRecoveryUnavailableException", message, 400)
            response = original(data)
            bucket = data.get("S3Bucket")
            if response[0] == 200 and bucket and s3._buckets.get(bucket) is None:
                # AWS accepts the export and then fails it, as the bucket cannot be written.
                arn = json.loads(response[2])["ExportDescription"]["ExportArn"]
                code, message = transfers.MISSING_BUCKET
                dynamodb._exports[arn].update(ExportStatus="FAILED", FailureCode=code, FailureMessage=message)
            return response

        return _export_table_to_point_in_time

    def make_source_objects(original):
        def _import_source_objects(s3_source: dict | None, compression: str | None) -> tuple:
            try:
                return original(s3_source, compression)
            except dynamodb._ImportFailed as failure:
                # A bucket without objects imports nothing and completes, as on AWS.
                if failure.code == "S3NoSuchKey" and not (s3_source or {}).get("S3KeyPrefix"):
                    return (s3_source or {}).get("S3Bucket"), []
                raise

        return _import_source_objects

    wrap(dynamodb, "_export_table_to_point_in_time", make_export)
    wrap(dynamodb, "_import_source_objects", make_source_objects)

    def make_json_items(original):
        def _import_dynamodb_json_items(blob: bytes) -> tuple:
            return transfers.dynamodb_json_items(blob)

        return _import_dynamodb_json_items

    wrap(dynamodb, "_import_dynamodb_json_items", make_json_items)


def apply() -> None:
    """Apply the DynamoDB fixes; e.g. ``apply()`` twice is a no-op."""
    requests.apply()
    _apply_resource_policies()
    _apply_transfers()
    streams.apply()
