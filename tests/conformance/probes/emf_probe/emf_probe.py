"""Conformance probe for embedded metric format: prints the EMF documents it is given.

This is what Powertools Metrics does on flush — one JSON document per line on stdout, which
Lambda sends to the function's log group and CloudWatch Logs turns into metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The standard library is enough, so the probe packages nothing.

Event: ``{"documents": [<EMF document>, ...], "lines": ["plain text", ...]}``. A document whose
``_aws.Timestamp`` is ``"now"`` gets the invocation's time in milliseconds. Returns the
timestamps it used.
"""

import json
import time


def handler(event, context):
    now_ms = int(time.time() * 1000)
    for line in event.get("lines", []):
        print(line)
    for document in event.get("documents", []):
        meta = document.get("_aws")
        if isinstance(meta, dict) and meta.get("Timestamp") == "now":
            meta["Timestamp"] = now_ms
        print(json.dumps(document, separators=(",", ":")))
    return {"timestamp": now_ms, "requestId": context.aws_request_id}
