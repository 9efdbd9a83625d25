"""The lab's local cloud: the pinned MiniStack, started in the background on 127.0.0.1.

The same calls back ``orderlab cloud start|stop|status`` and the notebooks:

>>> status = start()            # returns once healthy; idempotent   # doctest: +SKIP
>>> status.endpoint
'http://127.0.0.1:4599'
>>> stop().stopped                                                    # doctest: +SKIP
True

The process runs in its own session, so it outlives the Jupyter kernel (or shell) that
started it; its pid file and log live in ``~/.orderlab/cloud-<port>/``.
"""
from localcloud.process import CloudStatus, LocalCloudError, StopReport, start, status, stop

__all__ = ["CloudStatus", "LocalCloudError", "StopReport", "start", "status", "stop"]
