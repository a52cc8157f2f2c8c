"""fedledger platform: the ledger binding (web3), the aggregator service (FastAPI), storage
and the auditor."""

__all__: list[str] = []
