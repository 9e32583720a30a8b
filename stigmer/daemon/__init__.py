"""The local daemon: starts, watches and stops the processes of the local stack.

Each managed process is described by a :class:`stigmer.daemon.components.Component`; the
:class:`stigmer.daemon.manager.Daemon` starts them in order, each only once the previous one is
ready, and stops them in reverse order.
"""
