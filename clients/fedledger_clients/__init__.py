"""fedledger participants: the client daemon, key distribution, local training and the
built-in tasks."""

__all__: list[str] = []
