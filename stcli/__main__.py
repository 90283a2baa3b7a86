"""``python -m stcli``."""

from .cli import main

main()
