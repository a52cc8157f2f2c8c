"""fedledger orchestration: the ``fedledger`` command, the operator's commands, the federation
runner behind ``fedledger demo``, the plaintext reference federation and the benchmarks.

It composes every layer (participants in ``fedledger_clients``, the platform in
``fedledger_platform``, the cryptography in ``fedledger_crypto``); nothing imports it back.
"""

__all__: list[str] = []
