"""A probe function for the conformance suite: reports what a Lambda function sees."""

import importlib
import os
import sys

# Modules that are NOT in AWS's Python runtime: importing them must fail in a function
# that does not package them (they are all installed beside the local cloud).
HOST_ONLY_MODULES = ["ministack", "hypercorn", "psutil", "pydantic", "pandas", "pytest", "aws_lambda_powertools"]


def _importable(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


_INVOCATIONS = 0  # module state: lives as long as the execution environment


def handler(event, context):
    global _INVOCATIONS
    _INVOCATIONS += 1
    action = (event or {}).get("action", "inspect")
    if action == "raise":
        raise ValueError(event.get("message", "probe failure"))
    if action == "count":
        return {"invocations": _INVOCATIONS}
    return {
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "env": sorted(os.environ),
        "region": os.environ.get("AWS_REGION"),
        "imports": {name: _importable(name) for name in ["boto3", "botocore", "json", *HOST_ONLY_MODULES]},
    }


def http_handler(event, context):
    """Behind an HTTP API: echo the payload-2.0 event, fail, or answer without statusCode."""
    path = event.get("rawPath", "")
    if path.endswith("/boom"):
        raise RuntimeError("this must not reach the client")
    if path.endswith("/plain"):
        return {"hello": "world"}
    import json

    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({"event": event})}
