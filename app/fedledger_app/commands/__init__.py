"""The ``fedledger`` subcommands, one module per role: ``platform`` (contracts, keys, devnet,
deploy, serve, openapi), ``audit``, ``client`` (a participant) and ``federation`` (the operator);
``common`` holds the console, the output and error helpers and the shared options."""

__all__: list[str] = []
