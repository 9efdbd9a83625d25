"""Hooks the EventBridge fixes (connections' secrets, rules of a missing bus, archives' managed rules and
what AWS refuses to do to a managed rule) into MiniStack."""

from __future__ import annotations

import json
import uuid

from localcloud.patches import wrap
from localcloud.services.eventbridge import archives, buses, connections, managed


def apply() -> None:
    """Apply the EventBridge fixes; e.g. ``apply()`` twice is a no-op."""
    from ministack.core.responses import error_response_json, get_account_id, get_region
    from ministack.services import eventbridge, secretsmanager

    def secret_of(connection: str) -> str | None:
        arn = (eventbridge._connections.get(connection) or {}).get("SecretArn")
        for name, secret in list(secretsmanager._secrets.items()):
            if arn and secret.get("ARN") == arn:
                return str(name)
        return None

    def make_create(original):
        def _create_connection(data: dict) -> tuple:
            response = original(data)
            name = str(data.get("Name"))
            if response[0] == 200 and name in eventbridge._connections:
                secret = connections.secret_name(name, str(uuid.uuid4()))
                arn, _version = secretsmanager._store_new_secret(
                    secret,
                    secret_string=json.dumps(connections.secret_payload(data.get("AuthParameters") or {})),
                    tags=[connections.OWNER_TAG],
                )
                secretsmanager._secrets[secret]["OwningService"] = connections.OWNING_SERVICE
                eventbridge._connections[name]["SecretArn"] = arn
            return response

        return _create_connection

    def make_update(original):
        def _update_connection(data: dict) -> tuple:
            response = original(data)
            secret = secret_of(str(data.get("Name"))) if response[0] == 200 and "AuthParameters" in data else None
            if secret:
                payload = json.dumps(
                    connections.secret_payload(eventbridge._connections[data["Name"]]["AuthParameters"])
                )
                for version in secretsmanager._secrets[secret]["Versions"].values():
                    if "AWSCURRENT" in version.get("Stages", []):
                        version["SecretString"] = payload
            return response

        return _update_connection

    def make_delete(original):
        def _delete_connection(data: dict) -> tuple:
            secret = secret_of(str(data.get("Name")))
            response = original(data)
            if response[0] == 200 and secret:
                secretsmanager._secrets.pop(secret, None)  # AWS deletes the connection's secret with it
            return response

        return _delete_connection

    def make_describe_secret(original):
        def _describe_secret(data: dict) -> tuple:
            response = original(data)
            _key, secret = secretsmanager._resolve(data.get("SecretId"))
            if response[0] != 200 or not secret or not secret.get("OwningService"):
                return response
            described = json.loads(response[2])
            described["OwningService"] = secret["OwningService"]
            return response[0], response[1], json.dumps(described).encode()

        return _describe_secret

    def make_list_rules(original):
        def _list_rules(data: dict) -> tuple:
            bus = buses.bus_name(str(data.get("EventBusName") or "default"))
            if bus not in eventbridge._event_buses:
                return error_response_json("ResourceNotFoundException", f"Event bus {bus} does not exist.", 400)
            return original(data)

        return _list_rules

    def rule_key_of(archive: dict) -> str:
        bus = buses.bus_name(str(archive.get("EventSourceArn") or "default"))
        return eventbridge._rule_key(archives.rule_name(str(archive["ArchiveName"])), bus)

    def put_managed_rule(archive: dict) -> None:
        name = str(archive["ArchiveName"])
        key = rule_key_of(archive)
        bus = key.partition("|")[0]
        existing = eventbridge._rules.get(key, {})
        eventbridge._rules[key] = {
            **existing,
            "Arn": eventbridge._rule_arn(archives.rule_name(name), bus),
            "EventBusName": bus,
            "ScheduleExpression": "",
            "Description": "",
            "RoleArn": "",
            "CreatedBy": get_account_id(),
            "CreationTime": existing.get("CreationTime", eventbridge._now_ts()),
            **archives.managed_rule(name, archive.get("EventPattern")),
        }
        eventbridge._targets[key] = [archives.managed_target(name, str(archive["ArchiveArn"]), get_region())]

    def make_put_archive(original):  # CreateArchive and UpdateArchive both (re)write the managed rule
        def _put_archive(data: dict) -> tuple:
            response = original(data)
            archive = eventbridge._archives.get(data.get("ArchiveName"))
            if response[0] == 200 and archive:
                put_managed_rule(archive)
            return response

        return _put_archive

    def make_delete_archive(original):
        def _delete_archive(data: dict) -> tuple:
            archive = eventbridge._archives.get(data.get("ArchiveName"))
            response = original(data)
            if response[0] == 200 and archive:
                key = rule_key_of(archive)
                eventbridge._rules.pop(key, None)
                eventbridge._targets.pop(key, None)
            return response

        return _delete_archive

    def make_invoke_target(original):
        def _invoke_target(target: dict, event: dict, rule: dict, *args, **kwargs):
            if archives.is_archive_target(rule, target):
                return None  # the bus archives the event itself (MiniStack's _archive_event)
            return original(target, event, rule, *args, **kwargs)

        return _invoke_target

    def make_refuse_managed(action: str):
        """A wrapper answering ``action`` on a managed rule as AWS does (ManagedRuleException)."""

        def make(original):
            def _refuse_managed(data: dict) -> tuple:
                reference = managed.rule_reference(action, data)
                rule = eventbridge._rules.get(eventbridge._rule_key(reference[1], reference[0])) if reference else None
                if rule and action in managed.TAGGING_ACTIONS and rule.get("Arn") != data.get("ResourceARN"):
                    rule = None  # another account's or region's ARN: MiniStack answers that it does not exist
                message = managed.refusal(action, rule, force=data.get("Force") is True)
                if message:
                    return error_response_json("ManagedRuleException", message, 400)
                return original(data)

            return _refuse_managed

        return make

    wrap(eventbridge, "_list_rules", make_list_rules)
    wrap(eventbridge, "_create_archive", make_put_archive)
    wrap(eventbridge, "_update_archive", make_put_archive)
    wrap(eventbridge, "_delete_archive", make_delete_archive)
    wrap(eventbridge, "_invoke_target", make_invoke_target)
    wrap(eventbridge, "_put_rule", make_refuse_managed("PutRule"))
    wrap(eventbridge, "_delete_rule", make_refuse_managed("DeleteRule"))
    wrap(eventbridge, "_enable_rule", make_refuse_managed("EnableRule"))
    wrap(eventbridge, "_disable_rule", make_refuse_managed("DisableRule"))
    wrap(eventbridge, "_put_targets", make_refuse_managed("PutTargets"))
    wrap(eventbridge, "_remove_targets", make_refuse_managed("RemoveTargets"))
    wrap(eventbridge, "_tag_resource", make_refuse_managed("TagResource"))
    wrap(eventbridge, "_untag_resource", make_refuse_managed("UntagResource"))
    wrap(eventbridge, "_create_connection", make_create)
    wrap(eventbridge, "_update_connection", make_update)
    wrap(eventbridge, "_delete_connection", make_delete)
    wrap(secretsmanager, "_describe_secret", make_describe_secret)
