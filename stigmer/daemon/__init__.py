"""The local daemon: starts, watches, restarts and stops the processes of the local stack.

- :mod:`.components`, :mod:`.temporal`, :mod:`.runners`, :mod:`.registry`: what each component is
  (how to launch it, where it is reached, when it is ready); :mod:`.selection`: which ones run and in
  which order (dependencies, start waves).
- :mod:`.supervisor` (entry point :mod:`.supervise`): the long-running process that owns the
  components, spawned detached by ``stigmer server start``; :mod:`.restarts`: its restart budget.
- :mod:`.manager`: the CLI's side (start and wait for the verdict, stop, status).
- :mod:`.state`: ``run/stack.json``, the supervisor's record; :mod:`.pidfile`: ``pids/*.pid``.
- :mod:`.health`, :mod:`.process_tree`, :mod:`.lock`, :mod:`.logs`, :mod:`.homedir`, :mod:`.docker`:
  the mechanics.
"""
