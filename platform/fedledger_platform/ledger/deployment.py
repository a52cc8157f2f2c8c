"""The deployment file: where a federation's contracts live, written by ``fedledger deploy``
and read by every other command (``serve``, ``client run``, ``audit``, ``federation``).

The file also carries the ABI of both contracts (``abi.FederationLedger``,
``abi.ContributionToken``) as deployed, so an integrator needs nothing else to call them;
reading a deployment ignores it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from fedledger_crypto import public_key_of
from fedledger_platform.accounts import check_key_allowed
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger.artifacts import CONTRACT_NAMES, load_artifact
from fedledger_platform.ledger.binding import (
    AGGREGATOR_ROLE,
    AUDITOR_ROLE,
    OPERATOR_ROLE,
    RELAYER_ROLE,
    Ledger,
)
from fedledger_platform.ledger.chain import Chain

__all__ = [
    "ADMISSION_BATCH",
    "Deployment",
    "DevnetFederation",
    "create_devnet_federation",
    "deploy_federation",
]

_FORMAT = 1
#: Participants admitted per transaction: about 10.5 million gas, well inside a block.
ADMISSION_BATCH = 200


@dataclass(frozen=True)
class Deployment:
    """Chain id, contract addresses and the block the ledger was deployed in."""

    chain_id: int
    ledger: str
    token: str
    block_number: int
    deployer: str
    tx_hash: str
    reward_per_update: int
    quorum_bps: int
    rpc_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The deployment as a JSON object (the file adds the ABIs)."""
        return {"format": _FORMAT, **asdict(self)}

    def save(self, path: Path) -> None:
        """Write the file, with the contracts' ABIs, atomically (a reader never sees a
        half-written file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        abi = {name: load_artifact(name).abi for name in CONTRACT_NAMES}
        tmp.write_text(json.dumps({**self.to_json(), "abi": abi}, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read and validate a deployment file; :class:`ConfigurationError` names the problem."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(
                f"deployment file {path} does not exist; run `fedledger deploy` first"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"deployment file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigurationError(
                f"{path} is not a fedledger deployment file (format {_FORMAT})"
            )
        try:
            deployment = cls(
                chain_id=int(data["chain_id"]),
                ledger=Web3.to_checksum_address(data["ledger"]),
                token=Web3.to_checksum_address(data["token"]),
                block_number=int(data["block_number"]),
                deployer=Web3.to_checksum_address(data["deployer"]),
                tx_hash=str(data["tx_hash"]),
                reward_per_update=int(data["reward_per_update"]),
                quorum_bps=int(data["quorum_bps"]),
                rpc_url=data.get("rpc_url"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"deployment file {path} is incomplete or invalid: {exc}"
            ) from exc
        return deployment


def deploy_federation(
    chain: Chain,
    deployer: LocalAccount,
    *,
    aggregator: str,
    operator: str | None = None,
    auditors: tuple[str, ...] = (),
    relayers: tuple[str, ...] | None = None,
    reward_per_update: int = 10**18,
    quorum_bps: int = 5_001,
) -> tuple[Ledger, Deployment]:
    """Deploy a ledger and grant its roles: the deployer is admin (and operator by default);
    ``relayers`` (by default the aggregator, which relays its participants' signed messages)
    may submit participants' signed messages."""
    check_key_allowed(deployer, chain.chain_id)
    ledger, receipt = Ledger.deploy(
        chain, deployer, reward_per_update=reward_per_update, quorum_bps=quorum_bps
    )
    ledger.grant_role(deployer, OPERATOR_ROLE, operator or deployer.address)
    ledger.grant_role(deployer, AGGREGATOR_ROLE, aggregator)
    for auditor in auditors:
        ledger.grant_role(deployer, AUDITOR_ROLE, auditor)
    for relayer in (aggregator,) if relayers is None else relayers:
        ledger.grant_role(deployer, RELAYER_ROLE, relayer)
    deployment = Deployment(
        chain_id=chain.chain_id,
        ledger=ledger.address,
        token=ledger.token.address,
        block_number=receipt.block_number,
        deployer=deployer.address,
        tx_hash=receipt.tx_hash,
        reward_per_update=reward_per_update,
        quorum_bps=quorum_bps,
        rpc_url=None if chain.is_embedded else chain.target,
    )
    return ledger, deployment


@dataclass(frozen=True)
class DevnetFederation:
    """A federation set up on a devnet with fresh accounts (demos, benchmarks, tests)."""

    ledger: Ledger
    deployment: Deployment
    operator: LocalAccount
    aggregator: LocalAccount
    auditor: LocalAccount
    participants: list[LocalAccount]


def create_devnet_federation(
    chain: Chain,
    *,
    participants: int,
    reward_per_update: int = 10**18,
    quorum_bps: int = 5_001,
    fund_wei: int = 10**19,
    participant_wei: int = 0,
) -> DevnetFederation:
    """Deploy with the devnet's faucet as operator, create and fund (``fund_wei``) an
    aggregator, which also relays, and an auditor, create ``participants`` accounts holding
    ``participant_wei`` each — none by default: participants need no ether — admit them in
    batches and appoint the first as key dealer."""
    operator = chain.faucet()
    aggregator, auditor = Account.create(), Account.create()
    accounts = [Account.create() for _ in range(participants)]
    for account in (aggregator, auditor):
        chain.fund(account.address, fund_wei, sender=operator)
    for account in accounts if participant_wei else ():
        chain.fund(account.address, participant_wei, sender=operator)
    ledger, deployment = deploy_federation(
        chain,
        operator,
        aggregator=aggregator.address,
        auditors=(auditor.address,),
        reward_per_update=reward_per_update,
        quorum_bps=quorum_bps,
    )
    for start in range(0, len(accounts), ADMISSION_BATCH):
        batch = accounts[start : start + ADMISSION_BATCH]
        ledger.admit_participants(
            operator, [a.address for a in batch], [public_key_of(a) for a in batch]
        )
    ledger.appoint_key_dealer(operator, accounts[0].address)
    return DevnetFederation(ledger, deployment, operator, aggregator, auditor, accounts)
