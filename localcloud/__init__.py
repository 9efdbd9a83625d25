"""The lab's local cloud: the pinned MiniStack, started in the background on 127.0.0.1.

Details: docs/local-cloud-services.md, `localcloud/__init__.py`.

>>> status = start()            # returns once healthy; idempotent   # doctest: +SKIP
>>> status.endpoint
'http://127.0.0.1:4599'
>>> stop().stopped                                                    # doctest: +SKIP
True
>>> reset().files_removed       # stops it and forgets its saved state  # doctest: +SKIP
2
"""

from localcloud import paths
from localcloud.lambda_zygote import is_zygote_cmdline as is_lambda_zygote
from localcloud.process import (
    CloudStatus,
    LocalCloudError,
    ResetReport,
    StopReport,
    lambda_worker_function,
    reset,
    start,
    status,
    stop,
)
from localcloud.runtimes import available_runtimes, install_hint, python_version_of
from localcloud.services.sns.mailbox import Mailbox

__all__ = [
    "CloudStatus",
    "LocalCloudError",
    "Mailbox",
    "ResetReport",
    "StopReport",
    "available_runtimes",
    "cloudwatch_time_scale",
    "install_hint",
    "is_lambda_zygote",
    "lambda_worker_function",
    "paths",
    "python_version_of",
    "reset",
    "start",
    "status",
    "stop",
]


def cloudwatch_time_scale() -> float:
    """How many times faster than AWS a local cloud started from this environment runs CloudWatch's clock."""
    # Imported on use: the CloudWatch patches load MiniStack, which only the server process needs.
    from localcloud.services.cloudwatch.runtime import time_scale_from_env

    return float(time_scale_from_env().factor)
