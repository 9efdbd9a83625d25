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
from localcloud.process import CloudStatus, LocalCloudError, ResetReport, StopReport, reset, start, status, stop

__all__ = ["CloudStatus", "LocalCloudError", "ResetReport", "StopReport", "reset", "start", "status", "stop"]
