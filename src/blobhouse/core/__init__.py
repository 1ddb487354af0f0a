"""Pure types and rules shared by the client and the server.

Everything that defines the wire format lives here, so the client and the server cannot
drift apart: scopes and keys, expiration durations, metadata headers, ranges, URL paths.
Nothing in this package performs I/O or imports from the other layers.
"""
