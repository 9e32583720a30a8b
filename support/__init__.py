"""The end-to-end pipeline's shared harness: provisioning, clients, waits, checks and diagnostics.

It drives the Stigmer stack only from the outside (the ``stigmer`` CLI as a subprocess, the gRPC API,
the process table, files in ``STIGMER_HOME``) so the tiers can target any installation of the stack.
"""
