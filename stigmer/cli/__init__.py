"""The ``stigmer`` command line: a thin entry (:mod:`stigmer.cli.main`) and one module per command group."""
