"""Moved to `jaxdqn.cli`; this name stays for code that still imports `_cli`."""

import sys

from jaxdqn import cli

sys.modules[__name__] = cli
