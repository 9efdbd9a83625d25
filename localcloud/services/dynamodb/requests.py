"""DynamoDB refuses wrong calls as AWS does, and scans a partition in sort-key order.

>>> update_expression_error("SET a = :v, a.b = :v", {})[:58]
'1 validation error detected: Invalid UpdateExpression: Two'
>>> select_error({"Select": "count"}, "Query", lambda name: None)[:46]
"1 validation error detected: Value 'count' at "

The update-expression checks use moto's DynamoDB expression parser and validators (a
maintained implementation of AWS's rules); the other checks are parameter rules. Every
message is the one AWS returns; tests/conformance/test_dynamodb_wrong_calls.py holds the
contract, and docs/local-cloud.md ("Wrong calls") says where each rule comes from.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from localcloud.patches import patch_source, wrap

VALIDATION_PREFIX = "1 validation error detected: "
SELECT_VALUES = ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")
EXPRESSION_PARAMETERS = (
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)
_SELECTION = {
    "ALL_ATTRIBUTES": "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES": "ALL_PROJECTED_ATTRIBUTES",
    "COUNT": "only the Count",
}

TableLookup = Callable[[str], "Mapping[str, Any] | None"]
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")
WRITES = ("PutItem", "UpdateItem", "DeleteItem")  # their messages carry the validation prefix


@functools.lru_cache(maxsize=1024)
def _update_expression_error(expression: str, names: tuple[tuple[str, str], ...]) -> str | None:
    # Parsing costs ~2.5 ms; the lab sends the same few expressions again and again.
    from moto.dynamodb.exceptions import MockValidationException

    # moto's module opens with a file-level `# type: ignore`, so mypy sees none of its names.
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

    try:
        tree = UpdateExpressionParser.make(expression)
    except Exception:  # a syntax error: the server's own parser answers it
        return None
    try:
        ActionCountValidator().traverse(tree)
        OverlappingPathsValidator(dict(names)).traverse(tree)
    except MockValidationException as refused:
        return str(refused.message)
    return None


def update_expression_error(expression: str, names: Mapping[str, str] | None) -> str | None:
    """AWS's message for an UpdateExpression that repeats a section or touches overlapping paths."""
    return _update_expression_error(expression, tuple(sorted((names or {}).items())))


def expression_parameter_error(data: Mapping[str, Any]) -> str | None:
    """Empty expressions, placeholder keys without ``:``/``#``, names given with no expression."""
    for parameter in ("FilterExpression", "ProjectionExpression"):
        if data.get(parameter) == "":
            return f"Invalid {parameter}: The expression can not be empty;"
    for key in data.get("ExpressionAttributeValues") or {}:
        if not key.startswith(":"):
            return f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"'
    for key in data.get("ExpressionAttributeNames") or {}:
        if not key.startswith("#"):
            return f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"'
    if data.get("ExpressionAttributeNames") and not any(data.get(p) for p in EXPRESSION_PARAMETERS):
        return "ExpressionAttributeNames can only be specified when using expressions"
    return None


def unused_placeholder_error(data: Mapping[str, Any]) -> str | None:
    """AWS names placeholders no expression uses (names before values)."""
    used = set(_PLACEHOLDER.findall(" ".join(str(data.get(p) or "") for p in EXPRESSION_PARAMETERS)))
    for parameter in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        unused = [key for key in data.get(parameter) or {} if key not in used]
        if unused:
            return f"Value provided in {parameter} unused in expressions: keys: {{{', '.join(unused)}}}"
    return None


_SET_KINDS = {"SS": "string", "NS": "number", "BS": "binary"}


def empty_set_error(values: Mapping[str, Any]) -> str | None:
    """AWS refuses an empty set anywhere in an item or a value (its message has two spaces)."""
    for value in values.values():
        if isinstance(value, dict):
            for kind, members in value.items():
                if kind in _SET_KINDS and members == []:
                    return f"One or more parameter values were invalid: An {_SET_KINDS[kind]} set  may not be empty"
                nested = members if kind == "M" else dict(enumerate(members)) if kind == "L" else None
                if isinstance(nested, dict) and (message := empty_set_error(nested)):
                    return message
    return None


def select_error(data: Mapping[str, Any], operation: str, table_of: TableLookup) -> str | None:
    """AWS's rules for ``Select`` on Query and Scan (Query's messages carry the validation prefix);
    ``table_of`` is asked only when the rule needs the table's indexes."""
    select = data.get("Select")
    if select is None:
        return None
    if select not in SELECT_VALUES:
        return (
            f"{VALIDATION_PREFIX}Value '{select}' at 'select' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(SELECT_VALUES)}]"
        )
    prefix = VALIDATION_PREFIX if operation == "Query" else ""
    index = data.get("IndexName")
    if select in _SELECTION:
        for parameter in ("ProjectionExpression", "AttributesToGet"):
            if data.get(parameter):
                return f"{prefix}Cannot specify the {parameter} when choosing to get {_SELECTION[select]}"
    if select == "SPECIFIC_ATTRIBUTES" and not (data.get("ProjectionExpression") or data.get("AttributesToGet")):
        return (
            f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES" and not index:
        return f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
    table = table_of(str(data.get("TableName") or "")) if select == "ALL_ATTRIBUTES" and index else None
    if table is not None:
        for gsi in table.get("GlobalSecondaryIndexes") or []:
            if gsi.get("IndexName") == index and (gsi.get("Projection") or {}).get("ProjectionType") != "ALL":
                return (
                    f"One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported "
                    f"for global secondary index {index} because its projection type is not ALL"
                )
    return None


def _enum_error(value: Any, where: str, allowed: tuple[str, ...]) -> str | None:
    if value in allowed:
        return None
    constraint = f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    return f"Value '{value}' at '{where}' failed to satisfy constraint: {constraint}"


def validation_errors(messages: list[str]) -> str | None:
    """AWS's form for parameter constraint failures, one or several.

    >>> validation_errors(["Value 'a' at 'x' failed", "Value 'b' at 'y' failed"])
    "2 validation errors detected: Value 'a' at 'x' failed; Value 'b' at 'y' failed"
    """
    if not messages:
        return None
    count = f"{len(messages)} validation error{'s' if len(messages) > 1 else ''} detected: "
    return count + "; ".join(messages)


def key_type_error(data: Mapping[str, Any]) -> str | None:
    """A ``KeyType`` outside ``HASH``/``RANGE`` in the table's or an index's key schema (CreateTable).

    >>> key_type_error({"LocalSecondaryIndexes": [{"KeySchema": [{"KeyType": "HASH"}, {"KeyType": "SORT"}]}]})[:69]
    "1 validation error detected: Value 'SORT' at 'localSecondaryIndexes.1"
    """
    schemas = [("keySchema", data.get("KeySchema"))]
    for parameter, path in (
        ("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
        ("LocalSecondaryIndexes", "localSecondaryIndexes"),
    ):
        for number, index in enumerate(data.get(parameter) or [], start=1):
            if isinstance(index, dict):
                schemas.append((f"{path}.{number}.member.keySchema", index.get("KeySchema")))
    messages = []
    for path, schema in schemas:
        for number, key in enumerate(schema if isinstance(schema, list) else [], start=1):
            if isinstance(key, dict) and "KeyType" in key:
                message = _enum_error(key["KeyType"], f"{path}.{number}.member.keyType", ("HASH", "RANGE"))
                messages.extend([message] if message else [])
    return validation_errors(messages)


def partiql_index_target(parsed: dict[str, Any], table_exists: Callable[[str], bool]) -> dict[str, Any]:
    """``FROM table.index`` unquoted names an index, as ``"table"."index"`` does, unless a table
    has that dotted name (table names may contain dots).

    >>> partiql_index_target({"op": "SELECT", "table": "orders.by_status", "index": None}, lambda n: False)["index"]
    'by_status'
    """
    table = str(parsed.get("table") or "")
    if parsed.get("op") != "SELECT" or parsed.get("index") is not None or "." not in table or table_exists(table):
        return parsed
    name, _, index = table.partition(".")
    return {**parsed, "table": name, "index": index}


def key_conditions_error(data: Mapping[str, Any], table_of: TableLookup) -> str | None:
    """Legacy ``KeyConditions`` on an index with several RANGE attributes follow the expression's
    rule: left to right, equality on every one before the last named.

    >>> index = {"IndexName": "g", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
    ...     {"AttributeName": "s1", "KeyType": "RANGE"}, {"AttributeName": "s2", "KeyType": "RANGE"}]}
    >>> key_conditions_error({"IndexName": "g", "KeyConditions": {"p": {"ComparisonOperator": "EQ"},
    ...     "s2": {"ComparisonOperator": "GT"}}}, lambda name: {"GlobalSecondaryIndexes": [index]})[:36]
    'RANGE key attributes s1 must have eq'
    """
    conditions, index_name = data.get("KeyConditions"), data.get("IndexName")
    if not isinstance(conditions, dict) or not index_name:
        return None
    table = table_of(str(data.get("TableName") or "")) or {}
    indexes = [*(table.get("GlobalSecondaryIndexes") or []), *(table.get("LocalSecondaryIndexes") or [])]
    schema = next((index.get("KeySchema") or [] for index in indexes if index.get("IndexName") == index_name), [])
    ranges = [key.get("AttributeName") for key in schema if key.get("KeyType") == "RANGE"]
    named = [name for name in ranges if name in conditions]
    if len(ranges) < 2 or not named:
        return None
    last = named[-1]
    lacking = [
        name for name in ranges[: ranges.index(last)] if (conditions.get(name) or {}).get("ComparisonOperator") != "EQ"
    ]
    if not lacking:
        return None
    return (
        f"RANGE key attributes {', '.join(lacking)} must have equality conditions specified in the query "
        f"because a condition is present on key attribute {last}"
    )


def request_error(action: str, data: Mapping[str, Any], table_of: TableLookup) -> str | None:
    """The ValidationException message AWS would return for this request, or None."""
    if action == "CreateTable":
        return key_type_error(data)
    if action in ("Query", "Scan"):
        return (
            expression_parameter_error(data)
            or select_error(data, action, table_of)
            or (key_conditions_error(data, table_of) if action == "Query" else None)
        )
    if action == "GetItem":
        return expression_parameter_error(data)
    if action in WRITES:
        if action == "UpdateItem" and data.get("UpdateExpression") == "":
            return VALIDATION_PREFIX + "Invalid UpdateExpression: The expression can not be empty;"
        message = (
            expression_parameter_error(data)
            or unused_placeholder_error(data)
            or empty_set_error({**(data.get("Item") or {}), **(data.get("ExpressionAttributeValues") or {})})
        )
        if message:
            return message if message.startswith(VALIDATION_PREFIX) else VALIDATION_PREFIX + message
        if action == "UpdateItem":
            return update_expression_error(
                str(data.get("UpdateExpression") or ""), data.get("ExpressionAttributeNames")
            )
        return None
    if action == "BatchGetItem":
        for request in (data.get("RequestItems") or {}).values():
            message = unused_placeholder_error(request or {})
            if message:
                return message
    if action == "TransactWriteItems":
        for entry in data.get("TransactItems") or []:
            for operation in (entry or {}).values():
                if isinstance(operation, dict) and operation.get("ExpressionAttributeValues") == {}:
                    return "ExpressionAttributeValues must not be empty"
            update = (entry or {}).get("Update") or {}
            if update.get("UpdateExpression"):
                message = update_expression_error(update["UpdateExpression"], update.get("ExpressionAttributeNames"))
                if message:  # transactions answer without the validation prefix
                    return message.removeprefix(VALIDATION_PREFIX)
    return None


def aws_wording(action: str, message: str) -> str:
    """The server's message for a refusal it gets right, worded as AWS words it."""
    if action in ("CreateTable", "ImportTable") and message.endswith(
        "ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
    ):
        return (
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
            "specified when BillingMode is PROVISIONED"
        )
    if action == "UpdateItem" and message.endswith(
        "Aggregated size of all hash keys has exceeded the size limit of 2048 bytes"
    ):
        # AWS's own text, without a space before 2048
        return (
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
            "of2048 bytes"
        )
    return message


def partition_in_key_order(table: Mapping[str, Any], partition: Mapping[str, dict]) -> list[dict]:
    """A partition's items in sort-key order: numbers by value, binary by bytes (AWS's order)."""
    from ministack.services import dynamodb

    sort_key = table.get("sk_name")
    if not sort_key:
        return list(partition.values())
    kind = dynamodb._get_attr_type(table, sort_key)
    return sorted(partition.values(), key=lambda item: dynamodb._sort_key_value(item.get(sort_key), kind))


CHECKED_ACTIONS = ("Query", "Scan", "GetItem", "BatchGetItem", *WRITES, "TransactWriteItems", "CreateTable")


REWORDED_ACTIONS = ("UpdateItem", "CreateTable", "ImportTable")


def _reworded(action: str, body: bytes | str, headers: dict) -> bytes | str:
    try:
        error = json.loads(body)
    except ValueError:
        return body
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or aws_wording(action, message) == message:
        return body
    error["message"] = aws_wording(action, message)
    reworded = json.dumps(error).encode()
    headers["x-amz-crc32"] = str(zlib.crc32(reworded) & 0xFFFFFFFF)  # botocore checks it
    return reworded


def apply() -> None:
    from ministack.core.responses import error_response_json
    from ministack.services import dynamodb

    def table_of(name: str) -> Mapping[str, Any] | None:
        return dynamodb._tables.get(dynamodb._normalize_table_name(name))

    def make_handle_request(original):
        async def handle_request(method: str, path: str, headers: dict, body: bytes, query_params: dict) -> tuple:
            action = headers.get("x-amz-target", "").rpartition(".")[2]
            if body and action in CHECKED_ACTIONS:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None  # MiniStack answers malformed JSON
                message = request_error(action, data, table_of) if isinstance(data, dict) else None
                if message:
                    return error_response_json("ValidationException", message, 400)
            status, response_headers, response_body = await original(method, path, headers, body, query_params)
            if status == 400 and action in REWORDED_ACTIONS:
                response_body = _reworded(action, response_body, response_headers)
            return status, response_headers, response_body

        return handle_request

    wrap(dynamodb, "handle_request", make_handle_request)

    dynamodb._orderlab_partition_in_key_order = partition_in_key_order
    patch_source(
        dynamodb._scan,
        [
            (
                '        for sk in sorted(table["items"][pk].keys()):\n'
                '            all_items.append(table["items"][pk][sk])\n',
                '        all_items.extend(_orderlab_partition_in_key_order(table, table["items"][pk]))\n',
            )
        ],
        what="DynamoDB Scan order within a partition",
    )

    def make_exclusive_start(original):
        def _apply_exclusive_start_key_scan(all_items: list, esk: dict, table: dict) -> list:
            # Resume after the start key in the scan's own order (MiniStack compared sort keys as strings).
            pk_name, sk_name = table["pk_name"], table.get("sk_name")
            kind = dynamodb._get_attr_type(table, sk_name) if sk_name else "S"

            def position(item: Mapping[str, Any]) -> tuple:
                sort_value = dynamodb._sort_key_value(item.get(sk_name), kind) if sk_name else ""
                return dynamodb._extract_key_val(item.get(pk_name, {})), sort_value

            start = position(esk)
            return [item for item in all_items if position(item) > start]

        return _apply_exclusive_start_key_scan

    wrap(dynamodb, "_apply_exclusive_start_key_scan", make_exclusive_start)

    def make_parse_partiql(original):
        def _parse_partiql(statement: str, parameters: list) -> dict:
            parsed = original(statement, parameters)
            resolved = partiql_index_target(parsed, lambda name: name in dynamodb._tables)
            if resolved.get("index") is not None and resolved["table"] not in dynamodb._tables:
                # AWS names no table when the statement reads an index: "Requested resource not found"
                resolved["from_first"] = True
            return resolved

        return _parse_partiql

    wrap(dynamodb, "_parse_partiql", make_parse_partiql)
