"""The lab's local cloud: the pinned MiniStack, started in the background on 127.0.0.1.

The same calls back ``orderlab cloud start|stop|status`` and the notebooks:

>>> status = start()            # returns once healthy; idempotent   # doctest: +SKIP
>>> status.endpoint
'http://127.0.0.1:4599'
>>> stop().stopped                                                    # doctest: +SKIP
True
>>> reset().files_removed       # stops it and forgets its saved state  # doctest: +SKIP
2

The process runs in its own session, so it outlives the Jupyter kernel (or shell) that
started it; its pid file, log and saved state live in ``~/.orderlab/cloud-<port>/``. The
state survives a stop and start, a reboot, and a crash minus its last seconds
(:mod:`localcloud.persistence`).
"""
from localcloud import paths
from localcloud.mailbox import Mailbox
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

__all__ = [
    "CloudStatus",
    "LocalCloudError",
    "Mailbox",
    "ResetReport",
    "StopReport",
    "available_runtimes",
    "cloudwatch_time_scale",
    "install_hint",
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
    from localcloud.patches.cloudwatch import time_scale_from_env

    return float(time_scale_from_env().factor)
