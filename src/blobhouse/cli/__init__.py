"""The ``blobhouse`` command line."""
