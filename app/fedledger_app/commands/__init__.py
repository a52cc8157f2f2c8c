"""The ``fedledger`` subcommands, one module per role: ``platform`` (contracts, keys, devnet,
deploy, serve, openapi), ``audit``, ``client`` (a participant), ``federation`` (the operator),
``model`` (a consumer's verified download) and ``protocol`` (the test vectors);
``common`` holds the console, the output and error helpers and the shared options."""

__all__: list[str] = []
