"""The ``interp`` command line and its demo: the top layer, composing methods and reports.

- :mod:`circuits.cli.main`: the parser, config files, input checks and exit codes;
- :mod:`circuits.cli.commands`: what each subcommand runs and writes;
- :mod:`circuits.cli.console`: the entry points, safe to interrupt from the first moment;
- :mod:`circuits.cli.demo`: ``make demo``.

Importing this package imports nothing else, so the entry points start at once.
"""
