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
from localcloud.process import CloudStatus, LocalCloudError, ResetReport, StopReport, reset, start, status, stop

__all__ = ["CloudStatus", "LocalCloudError", "ResetReport", "StopReport", "reset", "start", "status", "stop"]
