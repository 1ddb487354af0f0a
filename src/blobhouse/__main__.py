"""``python -m blobhouse`` runs the command-line interface."""

from blobhouse.cli.main import main

main()
