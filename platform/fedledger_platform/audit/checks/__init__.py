"""The audit's checks, one module per subject. Each is a plain function of what the chain
history (:mod:`..history`) and the aggregator's evidence (:mod:`..evidence`) say, returning
:class:`~fedledger_platform.audit.results.CheckResult` (s) with their evidence (hashes,
transaction hashes, addresses); none fetches anything or reads the chain itself.

Per round:

``round``             (:mod:`.round`) a round that has not closed: open or failed, reported
``base_model``        (:mod:`.base_model`) the bytes served for the base model hash to it
``parameters``        (:mod:`.parameters`) the served parameters-only context hashes to
                      ``encryptionParamsHash``
``update``            (:mod:`.updates`) each included participant's stored update hashes to the
                      commitment of its ``UpdateCommitted`` event for that round
``left_out``          (:mod:`.updates`) no participant committed without being included (a
                      possibly dropped update is a failure naming the participant), unless
                      dropped from a masked round with all its reveals verified
``dropped``           (:mod:`.masking`) ``RoundClosed.dropped`` is the round's members (the
                      participants admitted at its opening block) less the included ones
``reveals``           (:mod:`.masking`) every served reveal's DLEQ proof verifies against both
                      on-chain keys, exactly the required pairs are revealed, and their hash is
                      ``RoundClosed.correctionsHash``
``aggregate``         (:mod:`.aggregate`) the homomorphic sum of the included updates,
                      recomputed with the parameters-only context, plus the correction from
                      the verified reveals, hashes to the on-chain hash
``served_aggregate``  (:mod:`.aggregate`) the aggregate participants download hashes to it too
``rewards``           (:mod:`.rewards`) the close transaction minted ``rewardPerUpdate`` to each
                      included participant and nothing else
``quorum``            (:mod:`.quorum`) the published model has the round's quorum of
                      attestations
``model``             (:mod:`.model`) the bytes served for the published model hash to it
``served_round``      (:mod:`.served`) ``GET /v1/rounds/{n}`` serves the chain's phase, base
                      model, deadline, minimum, aggregate and published hashes, participants
                      and transactions

and for the whole federation (:mod:`.federation`) ``token_supply`` and ``balances``: the supply
and every balance follow from the reward rule and the recorded transfers; (:mod:`.served`)
``latest_model``: ``GET /v1/models/latest`` serves the chain's latest published model, labelled
with its round.

CKKS addition is exact modular arithmetic and TenSEAL serializes the same sum byte-identically,
so the recomputed aggregate must hash to exactly the on-chain value (see docs/crypto.md).
"""

from fedledger_platform.audit.checks.aggregate import check_aggregate, check_served_aggregate
from fedledger_platform.audit.checks.base_model import check_base_model
from fedledger_platform.audit.checks.federation import (
    Accounts,
    check_balances,
    check_token_supply,
)
from fedledger_platform.audit.checks.masking import Unmasked, check_masking, corrected
from fedledger_platform.audit.checks.model import check_model, model_not_published
from fedledger_platform.audit.checks.parameters import check_parameters
from fedledger_platform.audit.checks.quorum import check_quorum, quorum_pending
from fedledger_platform.audit.checks.rewards import check_rewards
from fedledger_platform.audit.checks.round import check_unclosed_round
from fedledger_platform.audit.checks.served import check_latest_model, check_served_round
from fedledger_platform.audit.checks.updates import check_left_out, check_updates

__all__ = [
    "Accounts",
    "Unmasked",
    "check_aggregate",
    "check_balances",
    "check_base_model",
    "check_latest_model",
    "check_left_out",
    "check_masking",
    "check_model",
    "check_parameters",
    "check_quorum",
    "check_rewards",
    "check_served_aggregate",
    "check_served_round",
    "check_token_supply",
    "check_unclosed_round",
    "check_updates",
    "corrected",
    "model_not_published",
    "quorum_pending",
]
