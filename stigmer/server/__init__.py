"""stigmer-server: the gRPC API of the local stack, persisted in SQLite.

Roles, one module each: ``store`` (all SQL) with ``migrations``, plain logic in ``resources``,
``apply``, ``executions``, ``secret_values`` (redaction, runner token), ``events``, ``pagination`` and
``limits`` (message sizes, stream bounds), thin gRPC servicers in ``servicers``, and ``serve`` to build
and run the server.
"""
