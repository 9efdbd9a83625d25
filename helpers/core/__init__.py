"""The lab's foundation: where it runs (target, session), who works there (``Lab``, naming), how it waits.

Imports nothing else of the lab; every other layer may import it.
"""
