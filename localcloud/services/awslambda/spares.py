"""A spare execution environment per function, started before a request needs it.

On AWS a function that scales out gets a new environment in a few hundred milliseconds. Here a
new environment is a fork of its code's zygote (:mod:`localcloud.lambda_zygote`) that still runs
its init, and when a burst scales a function from one environment to four while other
functions start theirs too, those inits share two cores with everything else: the requests that
wait for them were the API's slowest by seconds.

So once a function has a zygote, its pool keeps one idle environment beside those serving: when
its zygote becomes ready and whenever a request takes an environment, one is started in the
background if none is idle. A request that finds every other environment busy takes the spare,
already initialised (if its start is still running, the request waits for the rest of it, never
longer than a cold start). A spare is an execution environment like any other:

* its first invocation is its cold start: its REPORT line carries ``Init Duration`` (the init it
  ran before the request came), and that invocation's ``Duration`` is the handler's alone;
* it is an idle environment, so it counts against no concurrency limit (AWS counts invocations
  in flight, which the Lambda service checks before a request takes an environment), and the
  function's environments stay within MiniStack's ceiling per function, if one is set;
* chaos kills it like any environment, and an idle spare is reaped after the warm TTL.

Only Python functions with a ready zygote get one (a fork costs little; a full start in the
background would compete with the requests), and ``ORDERLAB_LAMBDA_SPARE=0`` turns it off.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from typing import Any

from localcloud import lambda_zygote

logger = logging.getLogger("localcloud.lambda_spares")

ENABLE_ENV = "ORDERLAB_LAMBDA_SPARE"

# True on the thread that starts a spare: its init is not part of any invocation.
starting_ahead: contextvars.ContextVar[bool] = contextvars.ContextVar("orderlab_starting_ahead", default=False)


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _ready_or_starting(worker: Any) -> bool:
    """An idle environment a request can take now, or as soon as its start (ahead) is done."""
    if worker.in_use:
        return False
    if getattr(worker, "_orderlab_starting_ahead", False):
        return True
    proc = getattr(worker, "_proc", None)
    return proc is not None and proc.poll() is None


def _pool_of(lr: Any, key: lambda_zygote.ZygoteKey) -> tuple[list[Any], Any] | None:
    """The pool (under ``lr._lock``) whose environments fork from zygote ``key``, and one of them."""
    for entries in lr._workers.values():
        for worker in entries:
            if getattr(worker, "_orderlab_zygote_key", None) == key and type(worker) is lr.Worker:
                return entries, worker
    return None


def keep_one(key: lambda_zygote.ZygoteKey | None) -> None:
    """Make sure the pool of ``key``'s function has an idle environment, starting one in the background.

    Called when the zygote of ``key`` becomes ready and when a request takes an environment.
    """
    if key is None or not enabled() or lambda_zygote.stopping() or not lambda_zygote.ready_for(key):
        return
    from ministack.core import lambda_runtime as lr

    with lr._lock:
        found = _pool_of(lr, key)
        if found is None:
            return
        entries, model = found
        # A request takes the first idle environment of the list: a started one, not a dead one (the
        # others keep their order, so sequential requests keep reusing the same warm environment).
        entries.sort(key=lambda worker: not worker.in_use and not _ready_or_starting(worker))
        if any(_ready_or_starting(worker) for worker in entries):
            return
        dead = [worker for worker in entries if not worker.in_use]  # killed: start one of them again
        cap = lr._LOCAL_MAX_WORKERS
        if dead:
            spare = dead[0]
            entries.remove(spare)
        elif cap and len(entries) >= cap:
            return
        else:
            spare = lr.Worker(model.func_name, model.config, model.code_zip)
            spare.in_use = False
        spare.last_used = time.time()
        spare._orderlab_starting_ahead = True
        entries.append(spare)  # after the started environments, before the dead ones
        entries.sort(key=lambda worker: not worker.in_use and not _ready_or_starting(worker))
    threading.Thread(target=_start, args=(lr, spare), daemon=True, name=f"orderlab-spare-{model.func_name}").start()


def _start(lr: Any, spare: Any) -> None:
    starting_ahead.set(True)
    try:
        if lambda_zygote.stopping():  # told to stop while this thread was being started
            return
        lr.ensure_spawned(spare)  # holds the environment's lock: a request that took it waits for the rest
    except Exception as exc:  # its init failed: a request that takes it starts it again and gets the error
        logger.info("Lambda %s: the spare environment did not start (%s)", spare.func_name, exc)
    finally:
        spare._orderlab_starting_ahead = False
