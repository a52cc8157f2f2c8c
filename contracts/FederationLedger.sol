// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ContributionToken} from "./ContributionToken.sol";
import {IFederationLedger} from "./IFederationLedger.sol";

/**
 * @title FederationLedger
 * @notice On-chain audit log of one federated-learning federation: who may take
 * part, the hash of the shared encryption parameters, the masking rule, and for every
 * round the base model, each participant's update commitment, the aggregate, the included
 * participants (who are rewarded with {ContributionToken}s) and the model that a quorum of
 * them attested. Participants act from their own accounts or sign EIP-712 messages that a
 * relayer submits in batches.
 * Its events, custom errors and external functions are declared and documented in
 * {IFederationLedger}.
 * @dev Round life cycle: `None → Open → Closed → Published`, or `Open|Closed → Failed`.
 * Only the latest round can be Open or Closed: a new round opens only once the
 * previous one is Published or Failed.
 *
 * Storage is laid out for the hot paths (docs/contracts.md, "Storage layout and gas"):
 * - every participant gets a stable index at its first admission (never reused, kept
 *   across removal), and per-participant flags live in bitmaps indexed by it, so that
 *   the items of a batch after the first of a word hit a warm slot;
 * - who committed is one word per group of 192 participants, tagged with the round of its
 *   bits: the first commitment of a group in a round rewrites a non-zero word (5,000 gas)
 *   instead of creating a slot (22,100), and closeRound reads it while the round is open;
 * - who was included and who attested is one word per round and group of 128
 *   participants (two bits each), created at close, so that attestations only flip bits
 *   of an existing word;
 * - update hashes are not stored at all: the {UpdateCommitted} and {UpdatesCommitted} logs
 *   are their record;
 * - a relayed batch emits one event listing its accepted items ({UpdatesCommitted},
 *   {ModelsAttested}) rather than one per item, as ERC-1155's `TransferBatch` does.
 */
contract FederationLedger is AccessControl, EIP712, IFederationLedger {
    // ------------------------------------------------------------------ types

    /// @dev The part of a round read on every commit and attestation: exactly one slot.
    /// `leadingExtra` counts the attestations of the round's leading model hash (see
    /// {RoundHashes}) after its first, so that the first attestation of a round leaves this
    /// slot as it is; `openedAt` is a block number (40 bits last 10^12 blocks).
    struct RoundState {
        RoundStatus status;
        uint64 deadline;
        uint32 minUpdates;
        uint32 includedCount;
        uint32 quorum;
        uint40 openedAt;
        uint32 leadingExtra;
    }

    /// @dev A participant's one slot: its stable index, whether it is admitted now, and the
    /// block of its latest admission (0: never admitted, so `index` means nothing).
    struct Participant {
        uint32 index;
        bool admitted;
        uint64 admittedAt;
    }

    /// @dev The rest of a round. `leadingModelHash` is the first model hash attested in the
    /// round, replaced by the published one if another hash reaches the quorum first: the
    /// published model hash once the round is Published. Its count lives in {RoundState}, so
    /// the attestations of the hash honest participants agree on never create a counter
    /// slot, and publication writes no hash; other hashes are counted in `_attestations`.
    struct RoundHashes {
        bytes32 baseModelHash;
        bytes32 aggregateHash;
        bytes32 leadingModelHash;
    }

    /// @dev The federation's masking rule (see {configureMasking}).
    struct MaskingConfig {
        bool enabled;
        uint16 completeUpTo;
        uint16 degree;
    }

    /// @dev A round's attestation bookkeeping, held in memory while one call records
    /// attestations, and written back once ({_loadTally}, {_saveTally}).
    struct Tally {
        uint64 round;
        bool publishable; // the round is Closed: the first hash to reach the quorum publishes
        bool published; // published by this call
        uint32 quorum;
        bytes32 leading;
        bool leadingChanged;
        uint32 leadingCount;
        uint256 group; // the group whose round-flags word `flags` holds (_NO_GROUP: none)
        uint256 flags;
    }

    // ------------------------------------------------------------------ roles and types

    /// @notice Admits and removes participants, appoints the key dealer, sets the reward
    /// and the masking rule.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Opens, closes and abandons rounds (the aggregator service's account).
    bytes32 public constant AGGREGATOR_ROLE = keccak256("AGGREGATOR_ROLE");
    /// @notice Submits participants' signed commitments, attestations and the key dealer's
    /// signed parameters hash.
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice Accounts that the off-chain aggregator lets download individual update blobs.
    /// The ledger itself never checks it.
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");

    /// @notice EIP-712 type hash of a participant's signed update commitment.
    bytes32 public constant UPDATE_COMMITMENT_TYPEHASH = keccak256("UpdateCommitment(uint64 round,bytes32 updateHash)");
    /// @notice EIP-712 type hash of a participant's signed model attestation.
    bytes32 public constant MODEL_ATTESTATION_TYPEHASH = keccak256("ModelAttestation(uint64 round,bytes32 modelHash)");
    /// @notice EIP-712 type hash of the key dealer's signed parameters commitment.
    bytes32 public constant ENCRYPTION_PARAMS_TYPEHASH = keccak256("EncryptionParams(bytes32 paramsHash)");

    // ------------------------------------------------------------------ state

    uint256 private constant _BPS = 10_000;
    /// @dev Participants per commitment word; the word's top 64 bits are the round.
    uint256 private constant _COMMIT_GROUP = 192;
    /// @dev A fresh group's commitment word: round tag 1, nobody committed. Written at the
    /// group's first admission so that no commitment ever creates a slot.
    uint256 private constant _COMMIT_SEED = 1 << _COMMIT_GROUP;
    /// @dev Participants per round-flags word, two bits each.
    uint256 private constant _FLAGS_GROUP = 128;
    uint256 private constant _NO_GROUP = type(uint256).max;

    // The hand-written relay loops use these as literals (inline assembly takes no computed
    // constant); each equals the selector named, which the tests check through the events.
    /// @dev `UpdatesCommitted.selector`.
    bytes32 private constant _UPDATES_COMMITTED_TOPIC =
        0x4b90de519857768852cfd5eaad4b677594d02f126c74427e0948b63ea88eaead;
    /// @dev `ModelsAttested.selector`.
    bytes32 private constant _MODELS_ATTESTED_TOPIC =
        0xeafe374723cff097bd3eec422cf3ac0942ca583ff423f048aa9f868ba7fb4736;
    /// @dev `RelayedItemRejected.selector`.
    bytes32 private constant _RELAYED_ITEM_REJECTED_TOPIC =
        0x02772a1ffc5287f49ca89f892b92697bcceb83abf302ff934ca428e2ca6f9301;
    /// @dev `LedgerZeroHash.selector`, as a left-aligned word.
    bytes32 private constant _ZERO_HASH_REASON = 0xd6a408fc00000000000000000000000000000000000000000000000000000000;
    /// @dev `LedgerInvalidSignature.selector`.
    bytes32 private constant _INVALID_SIGNATURE_REASON =
        0xffb96ad900000000000000000000000000000000000000000000000000000000;
    /// @dev `LedgerNotParticipant.selector`.
    bytes32 private constant _NOT_PARTICIPANT_REASON =
        0x0b94a28d00000000000000000000000000000000000000000000000000000000;
    /// @dev `LedgerAlreadyCommitted.selector`.
    bytes32 private constant _ALREADY_COMMITTED_REASON =
        0x8e65c4db00000000000000000000000000000000000000000000000000000000;
    /// @dev `LedgerNotIncluded.selector`.
    bytes32 private constant _NOT_INCLUDED_REASON = 0xb1f6982b00000000000000000000000000000000000000000000000000000000;
    /// @dev `LedgerAlreadyAttested.selector`.
    bytes32 private constant _ALREADY_ATTESTED_REASON =
        0x318552ae00000000000000000000000000000000000000000000000000000000;
    /// @dev Masks s out of an EIP-2098 `vs`.
    uint256 private constant _S_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
    /// @dev The largest s OpenZeppelin's ECDSA accepts (half the secp256k1 order).
    uint256 private constant _S_MAX = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// @dev Where a relay loop's batch event data starts in its buffer, and its accounts (see
    /// {_relayBuffer}).
    uint256 private constant _BATCH_HEAD = 0x1a0;
    uint256 private constant _BATCH_ACCOUNTS = 0x200;
    /// @dev Bit offset of `admitted` in a {Participant} slot, as solc packs it (after the
    /// 32-bit `index`; `admittedAt` follows at bit 40), for the hand-written relay loops.
    uint256 private constant _ADMITTED_SHIFT = 32;
    uint256 private constant _ADMITTED_AT_SHIFT = 40;
    uint256 private constant _INCLUDED = 1;
    uint256 private constant _ATTESTED = 2;

    ContributionToken private immutable _token;

    // One slot: key dealer, quorum rule, latest round number.
    address private _keyDealer;
    uint16 private _quorumBps;
    uint64 private _currentRound;

    // One slot: the masking rule and the number of admitted participants.
    MaskingConfig private _masking;
    uint32 private _admittedCount;

    uint256 private _rewardPerUpdate;
    bytes32 private _encryptionParamsHash;

    /// @dev Every account ever admitted, at its stable index.
    address[] private _accounts;
    mapping(address participant => Participant) private _participants;
    /// @dev Per group of 192 indices: `round << 192 | bits`, bit `i % 192` set when
    /// participant `i` committed in `round`.
    mapping(uint256 group => uint256 word) private _commitWords;

    mapping(uint64 round => RoundState) private _roundStates;
    mapping(uint64 round => RoundHashes) private _roundHashes;
    /// @dev Per round and group of 128 indices: bits `2 * (i % 128)` (included) and
    /// `2 * (i % 128) + 1` (attested) of participant `i`.
    mapping(uint64 round => mapping(uint256 group => uint256 word)) private _roundFlags;
    /// @dev Attestation counts of the model hashes other than a round's leading one.
    mapping(uint64 round => mapping(bytes32 modelHash => uint32 count)) private _attestations;

    // ------------------------------------------------------------------ modifiers

    /// @dev Reverts with {LedgerZeroHash} if `hash` is zero: every hash the ledger records is
    /// checked by this modifier, before the function's other checks. The check is written in
    /// the modifier rather than in an internal `_check…` function (as OpenZeppelin's `onlyRole`
    /// does) because that call costs 29 gas more on every commit and attestation.
    modifier nonZeroHash(bytes32 hash) {
        if (hash == bytes32(0)) revert LedgerZeroHash();
        _;
    }

    // ------------------------------------------------------------------ constructor

    /**
     * @notice Creates the ledger and its {ContributionToken} ("fedledger Contribution", "FLC"),
     * whose only minter is this ledger, with masking enabled: all pairs up to 32
     * participants, else a k-regular graph of the default degree.
     *
     * Requirements:
     * - `admin` is not the zero address ({LedgerZeroAddress});
     * - `quorumBps_` is in 1..10000 ({LedgerInvalidQuorum}).
     *
     * Emits {RoleGranted} for `admin` and {MaskingConfigured}.
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (grants the other roles).
     * @param rewardPerUpdate_ Tokens (in 10^-18 units) minted per included update.
     * @param quorumBps_ Share of a round's included participants, in basis points, whose
     * matching attestations publish a model.
     */
    constructor(address admin, uint256 rewardPerUpdate_, uint16 quorumBps_) EIP712("FederationLedger", "1") {
        if (admin == address(0)) revert LedgerZeroAddress();
        if (quorumBps_ == 0 || quorumBps_ > _BPS) revert LedgerInvalidQuorum(quorumBps_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _rewardPerUpdate = rewardPerUpdate_;
        _quorumBps = quorumBps_;
        _token = new ContributionToken("fedledger Contribution", "FLC", address(this));
        _masking = MaskingConfig({enabled: true, completeUpTo: 32, degree: 0});
        emit MaskingConfigured(true, 32, 0);
    }

    // ------------------------------------------------------------------ participants

    /// @inheritdoc IFederationLedger
    function admitParticipant(address participant, bytes calldata publicKey)
        external
        virtual
        onlyRole(OPERATOR_ROLE)
    {
        _admit(participant, publicKey);
    }

    /// @inheritdoc IFederationLedger
    function admitParticipants(address[] calldata participants_, bytes[] calldata publicKeys)
        external
        virtual
        onlyRole(OPERATOR_ROLE)
    {
        uint256 count = participants_.length;
        if (count != publicKeys.length) revert LedgerLengthMismatch(count, publicKeys.length);
        if (count == 0) revert LedgerEmptyBatch();
        for (uint256 i = 0; i < count; ++i) {
            _admit(participants_[i], publicKeys[i]);
        }
    }

    /// @inheritdoc IFederationLedger
    function removeParticipant(address participant) external virtual onlyRole(OPERATOR_ROLE) {
        _checkParticipant(participant);
        _participants[participant].admitted = false; // keeps the index: no double commit on re-admission
        --_admittedCount;
        emit ParticipantRemoved(participant);
    }

    // ------------------------------------------------------------------ encryption parameters

    /// @inheritdoc IFederationLedger
    function appointKeyDealer(address dealer) external virtual onlyRole(OPERATOR_ROLE) {
        _checkParticipant(dealer);
        if (_encryptionParamsHash != bytes32(0)) revert LedgerParamsAlreadyCommitted();
        _keyDealer = dealer;
        emit KeyDealerAppointed(dealer);
    }

    /// @inheritdoc IFederationLedger
    function commitEncryptionParams(bytes32 paramsHash) external virtual nonZeroHash(paramsHash) {
        if (msg.sender != _keyDealer) revert LedgerNotKeyDealer(msg.sender);
        _commitParams(msg.sender, paramsHash);
    }

    /// @inheritdoc IFederationLedger
    function relayEncryptionParams(bytes32 paramsHash, bytes calldata signature)
        external
        virtual
        onlyRole(RELAYER_ROLE)
        nonZeroHash(paramsHash)
    {
        address dealer = _keyDealer;
        (uint8 v, bytes32 r, bytes32 s) = ECDSA.parseCalldata(signature);
        (address signer, ECDSA.RecoverError failure, ) = ECDSA.tryRecover(encryptionParamsDigest(paramsHash), v, r, s);
        if (failure != ECDSA.RecoverError.NoError || signer != dealer || dealer == address(0)) {
            revert LedgerInvalidSignature(dealer);
        }
        _commitParams(dealer, paramsHash);
    }

    // ------------------------------------------------------------------ settings

    /// @inheritdoc IFederationLedger
    function setRewardPerUpdate(uint256 newReward) external virtual onlyRole(OPERATOR_ROLE) {
        uint256 previous = _rewardPerUpdate;
        _rewardPerUpdate = newReward;
        emit RewardPerUpdateChanged(previous, newReward);
    }

    /// @inheritdoc IFederationLedger
    function configureMasking(bool enabled, uint16 completeUpTo, uint16 degree)
        external
        virtual
        onlyRole(OPERATOR_ROLE)
    {
        if (_currentRound != 0) revert LedgerMaskingFixed();
        if (enabled && (completeUpTo == 0 || degree % 2 != 0)) {
            revert LedgerInvalidMasking(completeUpTo, degree);
        }
        _masking = MaskingConfig({enabled: enabled, completeUpTo: completeUpTo, degree: degree});
        emit MaskingConfigured(enabled, completeUpTo, degree);
    }

    // ------------------------------------------------------------------ rounds

    /// @inheritdoc IFederationLedger
    function openRound(uint64 round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates)
        external
        virtual
        onlyRole(AGGREGATOR_ROLE)
        nonZeroHash(baseModelHash)
    {
        uint64 previous = _currentRound;
        if (round != previous + 1) revert LedgerUnexpectedRound(previous + 1, round);
        if (previous != 0) {
            RoundStatus previousStatus = _roundStates[previous].status;
            if (previousStatus != RoundStatus.Published && previousStatus != RoundStatus.Failed) {
                revert LedgerPreviousRoundPending(previous);
            }
        }
        if (_encryptionParamsHash == bytes32(0)) revert LedgerParamsNotCommitted();
        if (deadline <= block.timestamp) revert LedgerInvalidDeadline(deadline);
        if (minUpdates == 0) revert LedgerInvalidMinUpdates();

        _currentRound = round;
        _roundStates[round] = RoundState({
            status: RoundStatus.Open,
            deadline: deadline,
            minUpdates: minUpdates,
            includedCount: 0,
            quorum: 0,
            openedAt: uint40(block.number),
            leadingExtra: 0
        });
        _roundHashes[round].baseModelHash = baseModelHash;
        emit RoundOpened(round, baseModelHash, deadline, minUpdates);
    }

    /**
     * @inheritdoc IFederationLedger
     * @dev Reads the round's packed state, the caller's record and its group's commitment
     * word, and rewrites that word (non-zero to non-zero), plus one log: no fresh slot.
     */
    function commitUpdate(uint64 round, bytes32 updateHash) external virtual nonZeroHash(updateHash) {
        _checkOpen(round);
        bytes4 reason = _commit(round, msg.sender, updateHash);
        if (reason != 0) _revertWith(reason, round, msg.sender);
    }

    /**
     * @inheritdoc IFederationLedger
     * @dev The per-item loop is hand-written (docs/contracts.md, "Relaying"): it applies
     * {commitUpdate}'s rules ({_commit}) and lists each accepted item in the batch's one
     * {UpdatesCommitted} event ({_batchLog}); a group's commitment word is held on the stack
     * while consecutive items share it.
     */
    function relayCommitments(uint64 round, SignedItem[] calldata items)
        external
        virtual
        onlyRole(RELAYER_ROLE)
    {
        if (items.length == 0) revert LedgerEmptyBatch();
        _checkOpen(round);
        uint256 m = _relayBuffer(UPDATE_COMMITMENT_TYPEHASH, round, items.length);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let group := not(0) // the group whose commitment word `word` holds: none yet
            let word := 0
            let next := add(m, _BATCH_ACCOUNTS) // where the next accepted item's signer is listed
            for { let item := items.offset } lt(item, add(items.offset, shl(7, items.length))) {
                item := add(item, 0x80)
            } {
                let signer := calldataload(item)
                if shr(160, signer) { revert(0, 0) } // not an address: the ABI decoder refuses it too
                let hash := calldataload(add(item, 0x20))
                let reason := _ZERO_HASH_REASON
                if hash {
                    // The EIP-712 digest, then ecrecover under OpenZeppelin's ECDSA rules:
                    // EIP-2098 `vs` holds v's parity in its top bit and s below; s must be in
                    // the lower half order; a failed recovery leaves 0, which is no signer.
                    mstore(add(m, 0x40), hash)
                    mstore(add(m, 0x82), keccak256(m, 0x60))
                    mstore(add(m, 0xc0), keccak256(add(m, 0x60), 0x42))
                    let vs := calldataload(add(item, 0x60))
                    mstore(add(m, 0xe0), add(shr(255, vs), 27))
                    mstore(add(m, 0x100), calldataload(add(item, 0x40)))
                    vs := and(vs, _S_MASK) // s
                    mstore(add(m, 0x120), vs)
                    mstore(0x00, 0)
                    if iszero(gt(vs, _S_MAX)) { pop(staticcall(gas(), 1, add(m, 0xc0), 0x80, 0x00, 0x20)) }
                    reason := _INVALID_SIGNATURE_REASON
                    if and(eq(mload(0x00), signer), iszero(iszero(signer))) {
                        // {_commit}'s rules: the signer is admitted, and has not committed.
                        mstore(0x00, signer)
                        mstore(0x20, _participants.slot)
                        let record := sload(keccak256(0x00, 0x40))
                        reason := _NOT_PARTICIPANT_REASON
                        if and(shr(_ADMITTED_SHIFT, record), 0xff) {
                            record := and(record, 0xffffffff) // the index
                            if iszero(eq(div(record, _COMMIT_GROUP), group)) {
                                if iszero(eq(group, not(0))) { sstore(_wordSlot(group), word) }
                                group := div(record, _COMMIT_GROUP)
                                word := sload(_wordSlot(group))
                                if iszero(eq(shr(_COMMIT_GROUP, word), round)) { word := shl(_COMMIT_GROUP, round) }
                            }
                            record := shl(mod(record, _COMMIT_GROUP), 1) // the index's bit
                            reason := _ALREADY_COMMITTED_REASON
                            if iszero(and(word, record)) {
                                word := or(word, record)
                                reason := 0
                                // Listed for the batch event (see {_relayBuffer}).
                                mstore(next, signer)
                                mstore(add(next, shl(5, add(items.length, 1))), hash)
                                next := add(next, 0x20)
                            }
                        }
                    }
                }
                if reason { _reject(m, shr(7, sub(item, items.offset)), signer, reason) }
            }
            if iszero(eq(group, not(0))) { sstore(_wordSlot(group), word) }
            _emitBatch(m, next, items.length, _UPDATES_COMMITTED_TOPIC)

            function _wordSlot(groupOf) -> slot {
                mstore(0x00, groupOf)
                mstore(0x20, _commitWords.slot)
                slot := keccak256(0x00, 0x40)
            }
            /// Emits {RelayedItemRejected} for the item at `index` (the round is the buffer's).
            function _reject(buffer, index, signerOf, why) {
                mstore(add(buffer, 0x140), index)
                mstore(add(buffer, 0x160), signerOf)
                mstore(add(buffer, 0x180), why)
                log2(add(buffer, 0x140), 0x60, _RELAYED_ITEM_REJECTED_TOPIC, mload(add(buffer, 0x20)))
            }
            /// Emits the batch event of the items listed before `end` (none: no event): the
            /// offsets and lengths are written, the hashes move up behind the listed signers.
            function _emitBatch(buffer, end, capacity, topic) {
                let head := add(buffer, _BATCH_HEAD)
                let count := shr(5, sub(end, add(buffer, _BATCH_ACCOUNTS)))
                if count {
                    mstore(head, 0x40) // where the signers start
                    mstore(add(head, 0x20), add(0x60, shl(5, count))) // where the hashes start
                    mstore(add(head, 0x40), count)
                    mstore(end, count)
                    if lt(count, capacity) {
                        let listed := add(add(buffer, _BATCH_ACCOUNTS), shl(5, add(capacity, 1)))
                        mcopy(add(end, 0x20), listed, shl(5, count))
                    }
                    log2(head, add(0x80, shl(6, count)), topic, mload(add(buffer, 0x20)))
                }
            }
        }
    }

    /// @inheritdoc IFederationLedger
    function closeRound(
        uint64 round,
        bytes32 aggregateHash,
        address[] calldata included,
        address[] calldata dropped,
        bytes32 correctionsHash
    ) external virtual onlyRole(AGGREGATOR_ROLE) nonZeroHash(aggregateHash) {
        RoundState memory state = _roundStates[round];
        if (state.status != RoundStatus.Open) revert LedgerRoundNotOpen(round);
        uint256 count = included.length;
        if (count < state.minUpdates) revert LedgerTooFewUpdates(round, count, state.minUpdates);
        _include(round, included);
        _checkDropped(included, dropped, correctionsHash);

        uint256 reward = _rewardPerUpdate;
        if (reward != 0) _token.mintBatch(included, reward);
        state.status = RoundStatus.Closed;
        state.includedCount = uint32(count); // cannot overflow: calldata of 2^32 addresses is unaffordable
        state.quorum = _quorumFor(count);
        _roundStates[round] = state;
        _roundHashes[round].aggregateHash = aggregateHash;
        emit RoundClosed(round, aggregateHash, included, reward, dropped, correctionsHash);
    }

    /// @inheritdoc IFederationLedger
    function abandonRound(uint64 round, string calldata reason) external virtual onlyRole(AGGREGATOR_ROLE) {
        RoundState storage state = _roundStates[round];
        RoundStatus status = state.status;
        if (status != RoundStatus.Open && status != RoundStatus.Closed) revert LedgerRoundNotAbandonable(round);
        state.status = RoundStatus.Failed;
        emit RoundFailed(round, reason);
    }

    /// @inheritdoc IFederationLedger
    function attestModel(uint64 round, bytes32 modelHash) external virtual nonZeroHash(modelHash) {
        Tally memory tally = _loadTally(round);
        bytes4 reason = _attest(tally, msg.sender, modelHash);
        if (reason != 0) _revertWith(reason, round, msg.sender);
        _saveTally(tally);
    }

    /**
     * @inheritdoc IFederationLedger
     * @dev The per-item loop is hand-written, like {relayCommitments}'s: it applies
     * {attestModel}'s rules ({_attest}) and lists each accepted item in the batch's one
     * {ModelsAttested} event, keeping the round's {Tally} in memory (read and written by
     * field offset: 0x20 per member, in declaration order) and a group's round-flags word on
     * the stack. Consecutive items with the same hash share one digest computation.
     */
    function relayAttestations(uint64 round, SignedItem[] calldata items)
        external
        virtual
        onlyRole(RELAYER_ROLE)
    {
        if (items.length == 0) revert LedgerEmptyBatch();
        Tally memory tally = _loadTally(round);
        uint256 m = _relayBuffer(MODEL_ATTESTATION_TYPEHASH, round, items.length);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            // The group whose round-flags word `word` holds is the tally's `group` (none yet:
            // {_loadTally}); kept there rather than on the stack, which is full.
            let word := 0
            let next := add(m, _BATCH_ACCOUNTS) // where the next accepted item's signer is listed
            for { let item := items.offset } lt(item, add(items.offset, shl(7, items.length))) {
                item := add(item, 0x80)
            } {
                let signer := calldataload(item)
                if shr(160, signer) { revert(0, 0) } // not an address: the ABI decoder refuses it too
                let reason := _ZERO_HASH_REASON
                if _digest(m, item) {
                    // The item's hash is at m + 0x40 from here on (not on the stack: it is full).
                    reason := _INVALID_SIGNATURE_REASON
                    if eq(_recover(m, item), signer) {
                        // {_attest}'s rules: the signer is included, and has not attested.
                        mstore(0x00, signer)
                        mstore(0x20, _participants.slot)
                        let record := sload(keccak256(0x00, 0x40))
                        reason := _NOT_INCLUDED_REASON
                        if shr(_ADMITTED_AT_SHIFT, record) {
                            record := and(record, 0xffffffff) // the index
                            if iszero(eq(div(record, _FLAGS_GROUP), mload(add(tally, 0xe0)))) {
                                let group := mload(add(tally, 0xe0))
                                if iszero(eq(group, not(0))) { sstore(_flagsSlot(round, group), word) } // _NO_GROUP
                                group := div(record, _FLAGS_GROUP)
                                mstore(add(tally, 0xe0), group)
                                word := sload(_flagsSlot(round, group))
                            }
                            record := shl(1, mod(record, _FLAGS_GROUP)) // the index's shift
                            if and(shr(record, word), _INCLUDED) {
                                reason := _ALREADY_ATTESTED_REASON
                                if iszero(and(shr(record, word), _ATTESTED)) {
                                    word := or(word, shl(record, _ATTESTED))
                                    reason := 0
                                    _count(tally, mload(add(m, 0x40)))
                                    // Listed for the batch event (see {_relayBuffer}).
                                    mstore(next, signer)
                                    mstore(add(next, shl(5, add(items.length, 1))), mload(add(m, 0x40)))
                                    next := add(next, 0x20)
                                }
                            }
                        }
                    }
                }
                if reason { _reject(m, shr(7, sub(item, items.offset)), signer, reason) }
            }
            mstore(add(tally, 0x100), word) // {_saveTally} writes it back
            _emitBatch(m, next, items.length, _MODELS_ATTESTED_TOPIC)

            function _flagsSlot(roundOf, groupOf) -> slot {
                mstore(0x00, roundOf)
                mstore(0x20, _roundFlags.slot)
                mstore(0x20, keccak256(0x00, 0x40))
                mstore(0x00, groupOf)
                slot := keccak256(0x00, 0x40)
            }
            function _countSlot(roundOf, hashOf) -> slot {
                mstore(0x00, roundOf)
                mstore(0x20, _attestations.slot)
                mstore(0x20, keccak256(0x00, 0x40))
                mstore(0x00, hashOf)
                slot := keccak256(0x00, 0x40)
            }
            /// The hash of the item at `itemOf` (0: none), at buffer + 0x40 with its EIP-712
            /// digest at buffer + 0xc0 when it is not zero; computed once for consecutive items
            /// of one hash.
            function _digest(buffer, itemOf) -> hashOf {
                hashOf := calldataload(add(itemOf, 0x20))
                if and(iszero(iszero(hashOf)), iszero(eq(hashOf, mload(add(buffer, 0x40))))) {
                    mstore(add(buffer, 0x40), hashOf)
                    mstore(add(buffer, 0x82), keccak256(buffer, 0x60))
                    mstore(add(buffer, 0xc0), keccak256(add(buffer, 0x60), 0x42))
                }
            }
            /// The signer the signature of the item at `itemOf` recovers to for the digest at
            /// buffer + 0xc0, under OpenZeppelin's ECDSA rules (see relayCommitments); when it
            /// recovers to none, `not(0)`, which is no address.
            function _recover(buffer, itemOf) -> recovered {
                let vs := calldataload(add(itemOf, 0x60))
                mstore(add(buffer, 0xe0), add(shr(255, vs), 27))
                mstore(add(buffer, 0x100), calldataload(add(itemOf, 0x40)))
                vs := and(vs, _S_MASK) // s
                mstore(add(buffer, 0x120), vs)
                mstore(0x00, 0)
                if iszero(gt(vs, _S_MAX)) { pop(staticcall(gas(), 1, add(buffer, 0xc0), 0x80, 0x00, 0x20)) }
                recovered := mload(0x00)
                if iszero(recovered) { recovered := not(0) }
            }
            /// {_attest}'s counting and publication, on the {Tally} at `t` ({ModelPublished}
            /// is emitted after the batch's event, below).
            function _count(t, hashOf) {
                let roundOf := mload(t)
                let leading := mload(add(t, 0x80))
                if iszero(leading) {
                    leading := hashOf
                    mstore(add(t, 0x80), hashOf)
                    mstore(add(t, 0xa0), 1) // leadingChanged
                }
                let count := 0
                switch eq(hashOf, leading)
                case 1 {
                    count := add(mload(add(t, 0xc0)), 1) // at most the included count: no overflow
                    mstore(add(t, 0xc0), count)
                }
                default {
                    let slot := _countSlot(roundOf, hashOf)
                    count := add(sload(slot), 1)
                    sstore(slot, count)
                }
                if and(mload(add(t, 0x20)), iszero(lt(count, mload(add(t, 0x60))))) {
                    if iszero(eq(hashOf, leading)) {
                        // Another hash is published first: it becomes the leading one.
                        sstore(_countSlot(roundOf, leading), mload(add(t, 0xc0)))
                        mstore(add(t, 0x80), hashOf)
                        mstore(add(t, 0xc0), count)
                        mstore(add(t, 0xa0), 1)
                    }
                    mstore(add(t, 0x20), 0) // publishable
                    mstore(add(t, 0x40), 1) // published
                }
            }
            /// Emits {RelayedItemRejected} for the item at `index` (the round is the buffer's).
            function _reject(buffer, index, signerOf, why) {
                mstore(add(buffer, 0x140), index)
                mstore(add(buffer, 0x160), signerOf)
                mstore(add(buffer, 0x180), why)
                log2(add(buffer, 0x140), 0x60, _RELAYED_ITEM_REJECTED_TOPIC, mload(add(buffer, 0x20)))
            }
            /// Emits the batch event of the items listed before `end` (none: no event): the
            /// offsets and lengths are written, the hashes move up behind the listed signers.
            function _emitBatch(buffer, end, capacity, topic) {
                let head := add(buffer, _BATCH_HEAD)
                let count := shr(5, sub(end, add(buffer, _BATCH_ACCOUNTS)))
                if count {
                    mstore(head, 0x40) // where the signers start
                    mstore(add(head, 0x20), add(0x60, shl(5, count))) // where the hashes start
                    mstore(add(head, 0x40), count)
                    mstore(end, count)
                    if lt(count, capacity) {
                        let listed := add(add(buffer, _BATCH_ACCOUNTS), shl(5, add(capacity, 1)))
                        mcopy(add(end, 0x20), listed, shl(5, count))
                    }
                    log2(head, add(0x80, shl(6, count)), topic, mload(add(buffer, 0x20)))
                }
            }
        }
        // Publication happens when the count reaches the quorum: the event carries the quorum.
        if (tally.published) emit ModelPublished(round, tally.leading, tally.quorum);
        _saveTally(tally);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IFederationLedger
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IFederationLedger
    function rewardPerUpdate() external view returns (uint256) {
        return _rewardPerUpdate;
    }

    /// @inheritdoc IFederationLedger
    function quorumBps() external view returns (uint16) {
        return _quorumBps;
    }

    /// @inheritdoc IFederationLedger
    function masking() external view returns (bool enabled, uint16 completeUpTo, uint16 degree) {
        MaskingConfig memory config = _masking;
        return (config.enabled, config.completeUpTo, config.degree);
    }

    /// @inheritdoc IFederationLedger
    function keyDealer() external view returns (address) {
        return _keyDealer;
    }

    /// @inheritdoc IFederationLedger
    function encryptionParamsHash() external view returns (bytes32) {
        return _encryptionParamsHash;
    }

    /// @inheritdoc IFederationLedger
    function isParticipant(address account) external view returns (bool) {
        return _participants[account].admitted;
    }

    /// @inheritdoc IFederationLedger
    function admissionBlock(address participant) external view returns (uint64) {
        Participant memory record = _participants[participant];
        return record.admitted ? record.admittedAt : 0;
    }

    /// @inheritdoc IFederationLedger
    function participantCount() external view returns (uint256) {
        return _admittedCount;
    }

    /// @inheritdoc IFederationLedger
    function participants() external view returns (address[] memory admitted) {
        admitted = new address[](_admittedCount);
        uint256 found = 0;
        for (uint256 i = 0; found < admitted.length; ++i) {
            address account = _accounts[i];
            if (_participants[account].admitted) admitted[found++] = account;
        }
    }

    /// @inheritdoc IFederationLedger
    function currentRound() external view returns (uint64) {
        return _currentRound;
    }

    /// @inheritdoc IFederationLedger
    function getRound(uint64 round) external view returns (RoundInfo memory info) {
        RoundState memory state = _roundStates[round];
        RoundHashes memory hashes = _roundHashes[round];
        info = RoundInfo({
            status: state.status,
            deadline: state.deadline,
            minUpdates: state.minUpdates,
            includedCount: state.includedCount,
            quorum: state.quorum,
            openedAt: state.openedAt,
            baseModelHash: hashes.baseModelHash,
            aggregateHash: hashes.aggregateHash,
            publishedModelHash: state.status == RoundStatus.Published ? hashes.leadingModelHash : bytes32(0)
        });
    }

    /// @inheritdoc IFederationLedger
    function hasCommitted(uint64 round, address participant) external view returns (bool) {
        Participant memory record = _participants[participant];
        return record.admittedAt != 0 && _committed(round, record.index);
    }

    /// @inheritdoc IFederationLedger
    function isIncluded(uint64 round, address participant) external view returns (bool) {
        return _flagsOf(round, participant) & _INCLUDED != 0;
    }

    /// @inheritdoc IFederationLedger
    function hasAttested(uint64 round, address participant) external view returns (bool) {
        return _flagsOf(round, participant) & _ATTESTED != 0;
    }

    /// @inheritdoc IFederationLedger
    function attestationCount(uint64 round, bytes32 modelHash) external view returns (uint32) {
        bytes32 leading = _roundHashes[round].leadingModelHash;
        if (leading != bytes32(0) && modelHash == leading) return _roundStates[round].leadingExtra + 1;
        return _attestations[round][modelHash];
    }

    /// @inheritdoc IFederationLedger
    function updateCommitmentDigest(uint64 round, bytes32 updateHash) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(UPDATE_COMMITMENT_TYPEHASH, round, updateHash));
    }

    /// @inheritdoc IFederationLedger
    function modelAttestationDigest(uint64 round, bytes32 modelHash) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(MODEL_ATTESTATION_TYPEHASH, round, modelHash));
    }

    /// @inheritdoc IFederationLedger
    function encryptionParamsDigest(bytes32 paramsHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ENCRYPTION_PARAMS_TYPEHASH, paramsHash)));
    }

    // ------------------------------------------------------------------ internals

    /// @dev Reverts with {LedgerNotParticipant} unless `account` is admitted.
    function _checkParticipant(address account) internal view virtual {
        if (!_participants[account].admitted) revert LedgerNotParticipant(account);
    }

    /// @dev Reverts unless round `round` is Open and its deadline has not passed.
    function _checkOpen(uint64 round) private view {
        RoundState storage state = _roundStates[round];
        (RoundStatus status, uint64 deadline) = (state.status, state.deadline);
        if (status != RoundStatus.Open) revert LedgerRoundNotOpen(round);
        if (block.timestamp > deadline) revert LedgerDeadlinePassed(round, deadline);
    }

    /// @dev Admits one participant (see {admitParticipant}); a new one gets the next index,
    /// and the first of a group of 192 seeds the group's commitment word.
    function _admit(address participant, bytes calldata publicKey) private {
        if (participant == address(0)) revert LedgerZeroAddress();
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != participant) {
            revert LedgerInvalidPublicKey(participant);
        }
        Participant memory record = _participants[participant];
        if (record.admitted) revert LedgerAlreadyAdmitted(participant);
        if (record.admittedAt == 0) {
            uint256 index = _accounts.length;
            record.index = uint32(index); // 2^32 admissions cost more gas than any chain has
            _accounts.push(participant);
            if (index % _COMMIT_GROUP == 0) _commitWords[index / _COMMIT_GROUP] = _COMMIT_SEED;
        }
        _participants[participant] =
            Participant({index: record.index, admitted: true, admittedAt: uint64(block.number)});
        ++_admittedCount;
        emit ParticipantAdmitted(participant, publicKey);
    }

    /// @dev Records the parameters hash of `dealer`, once.
    function _commitParams(address dealer, bytes32 paramsHash) private {
        if (_encryptionParamsHash != bytes32(0)) revert LedgerParamsAlreadyCommitted();
        _encryptionParamsHash = paramsHash;
        emit EncryptionParamsCommitted(dealer, paramsHash);
    }

    /**
     * @dev Commits `updateHash` for `participant` in the open round `round` and emits
     * {UpdateCommitted}; or changes nothing and returns the selector of the rule it breaks.
     */
    function _commit(uint64 round, address participant, bytes32 updateHash) private returns (bytes4) {
        Participant memory record = _participants[participant];
        if (!record.admitted) return LedgerNotParticipant.selector;
        uint256 group = record.index / _COMMIT_GROUP;
        uint256 bit = 1 << (record.index % _COMMIT_GROUP);
        uint256 word = _commitWords[group];
        if (word >> _COMMIT_GROUP != round) {
            word = uint256(round) << _COMMIT_GROUP; // the group's first commitment of the round
        } else if (word & bit != 0) {
            return LedgerAlreadyCommitted.selector;
        }
        _commitWords[group] = word | bit;
        emit UpdateCommitted(round, participant, updateHash);
        return 0;
    }

    /**
     * @dev Allocates the memory a relay loop works in and writes its constants; returns its
     * address. Layout (offsets in bytes): 0x000 the message's type hash, 0x020 the round,
     * 0x040 an item's hash (the EIP-712 struct, hashed over 0x60 bytes); 0x060 `0x1901`,
     * 0x062 the domain separator, 0x082 the struct hash (the digest's input, hashed over
     * 0x42 bytes); 0x0c0-0x13f ecrecover's input (digest, v, r, s); 0x140-0x19f a rejection
     * event's data; from 0x1a0 ({_BATCH_HEAD}) the batch event's data for up to `capacity`
     * items, the ABI encoding of `(address[], bytes32[])`: two offsets, the accounts' length,
     * the accounts (from {_BATCH_ACCOUNTS}), the hashes' length and the hashes. The loop lists
     * each accepted item's hash `capacity + 1` words after its account; once their number is
     * known the hashes move up behind the accepted accounts. The batch part is not zeroed:
     * every word of it is written before the log reads it.
     */
    function _relayBuffer(bytes32 typeHash, uint64 round, uint256 capacity) private view returns (uint256 m) {
        bytes memory buffer = new bytes(_BATCH_HEAD);
        bytes32 domain = _domainSeparatorV4();
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            m := add(buffer, 0x20)
            mstore(m, typeHash)
            mstore(add(m, 0x20), round)
            mstore(add(m, 0x60), shl(240, 0x1901))
            mstore(add(m, 0x62), domain)
            // The batch event's data, allocated right after the buffer (where `new` left the
            // free memory pointer): its head, then room for `capacity` accounts and hashes.
            mstore(0x40, add(m, add(_BATCH_ACCOUNTS, add(shl(6, capacity), 0x20))))
        }
    }

    /// @dev Whether the participant at `index` committed in `round`, as far as its group's
    /// word still records (always for the open round).
    function _committed(uint64 round, uint256 index) private view returns (bool) {
        uint256 word = _commitWords[index / _COMMIT_GROUP];
        return word >> _COMMIT_GROUP == round && word & (1 << (index % _COMMIT_GROUP)) != 0;
    }

    /// @dev Round `round`'s attestation bookkeeping; reverts with {LedgerRoundNotClosed}
    /// unless the round is Closed or Published.
    function _loadTally(uint64 round) private view returns (Tally memory tally) {
        RoundState storage state = _roundStates[round];
        (RoundStatus status, uint32 quorum, uint32 leadingExtra) = (state.status, state.quorum, state.leadingExtra);
        if (status != RoundStatus.Closed && status != RoundStatus.Published) revert LedgerRoundNotClosed(round);
        tally.round = round;
        tally.publishable = status == RoundStatus.Closed;
        tally.quorum = quorum;
        tally.leading = _roundHashes[round].leadingModelHash;
        if (tally.leading != bytes32(0)) tally.leadingCount = leadingExtra + 1;
        tally.group = _NO_GROUP;
    }

    /// @dev Writes back what {_attest} changed in `tally`.
    function _saveTally(Tally memory tally) private {
        uint64 round = tally.round;
        if (tally.group != _NO_GROUP) _roundFlags[round][tally.group] = tally.flags;
        RoundState storage state = _roundStates[round];
        state.leadingExtra = tally.leadingCount == 0 ? 0 : tally.leadingCount - 1; // unchanged: 100 gas
        if (tally.published) state.status = RoundStatus.Published;
        if (tally.leadingChanged) _roundHashes[round].leadingModelHash = tally.leading;
    }

    /**
     * @dev Records `participant`'s attestation of `modelHash` in `tally`'s round and emits
     * {ModelAttested}; publishes the model (emitting {ModelPublished}) when the round is
     * Closed and the count reaches the quorum. Or changes nothing and returns the selector
     * of the rule it breaks.
     */
    function _attest(Tally memory tally, address participant, bytes32 modelHash) private returns (bytes4) {
        Participant storage record = _participants[participant];
        (uint256 index, uint64 admittedAt) = (record.index, record.admittedAt);
        if (admittedAt == 0) return LedgerNotIncluded.selector;
        uint256 group = index / _FLAGS_GROUP;
        if (group != tally.group) {
            if (tally.group != _NO_GROUP) _roundFlags[tally.round][tally.group] = tally.flags;
            tally.group = group;
            tally.flags = _roundFlags[tally.round][group];
        }
        uint256 shift = (index % _FLAGS_GROUP) * 2;
        uint256 bits = tally.flags >> shift;
        if (bits & _INCLUDED == 0) return LedgerNotIncluded.selector;
        if (bits & _ATTESTED != 0) return LedgerAlreadyAttested.selector;
        tally.flags |= _ATTESTED << shift;

        if (tally.leading == bytes32(0)) (tally.leading, tally.leadingChanged) = (modelHash, true);
        uint32 attestations = modelHash == tally.leading
            ? ++tally.leadingCount
            : ++_attestations[tally.round][modelHash];
        emit ModelAttested(tally.round, participant, modelHash);

        if (tally.publishable && attestations >= tally.quorum) {
            if (modelHash != tally.leading) {
                // Another hash is published first: it becomes the leading one.
                _attestations[tally.round][tally.leading] = tally.leadingCount;
                (tally.leading, tally.leadingCount, tally.leadingChanged) = (modelHash, attestations, true);
            }
            (tally.publishable, tally.published) = (false, true);
            emit ModelPublished(tally.round, modelHash, attestations);
        }
        return 0;
    }

    /// @dev Marks every participant of `included` (strictly ascending, each committed in the
    /// open round `round`) as included.
    function _include(uint64 round, address[] calldata included) private {
        mapping(uint256 => uint256) storage flags = _roundFlags[round];
        address previous = address(0);
        for (uint256 i = 0; i < included.length; ++i) {
            address participant = included[i];
            // Ascending order rules out duplicates; address(0) is never admitted.
            if (i != 0 && participant <= previous) revert LedgerIncludedNotSorted(i);
            Participant memory record = _participants[participant];
            if (record.admittedAt == 0 || !_committed(round, record.index)) {
                revert LedgerMissingCommitment(round, participant);
            }
            flags[record.index / _FLAGS_GROUP] |= _INCLUDED << ((record.index % _FLAGS_GROUP) * 2);
            previous = participant;
        }
    }

    /// @dev Checks `dropped` and `correctionsHash` against `included` and the masking rule.
    function _checkDropped(address[] calldata included, address[] calldata dropped, bytes32 correctionsHash)
        private
        view
    {
        if (dropped.length == 0 && correctionsHash == bytes32(0)) return;
        if (!_masking.enabled) revert LedgerMaskingDisabled();
        uint256 j = 0; // both lists ascend: one merge pass finds a participant in both
        for (uint256 i = 0; i < dropped.length; ++i) {
            address participant = dropped[i];
            if (i != 0 && participant <= dropped[i - 1]) revert LedgerDroppedNotSorted(i);
            while (j < included.length && included[j] < participant) ++j;
            if (j < included.length && included[j] == participant) revert LedgerDroppedIncluded(participant);
        }
        if (dropped.length == 0) revert LedgerUnexpectedCorrections();
    }

    /// @dev The included/attested bits of `participant` in `round` (0 if never admitted).
    function _flagsOf(uint64 round, address participant) private view returns (uint256) {
        Participant memory record = _participants[participant];
        if (record.admittedAt == 0) return 0;
        uint256 word = _roundFlags[round][record.index / _FLAGS_GROUP];
        return (word >> ((record.index % _FLAGS_GROUP) * 2)) & (_INCLUDED | _ATTESTED);
    }

    /// @dev `keccak256(abi.encode(typeHash, round, hash))`: an EIP-712 struct hash.
    function _structHash(bytes32 typeHash, uint64 round, bytes32 hash) private pure returns (bytes32) {
        return keccak256(abi.encode(typeHash, round, hash));
    }

    /// @dev Reverts with the custom error whose selector is `reason`, for a participant's
    /// own call (the rules {_commit} and {_attest} report).
    function _revertWith(bytes4 reason, uint64 round, address participant) private pure {
        if (reason == LedgerNotParticipant.selector) revert LedgerNotParticipant(participant);
        if (reason == LedgerAlreadyCommitted.selector) revert LedgerAlreadyCommitted(round, participant);
        if (reason == LedgerNotIncluded.selector) revert LedgerNotIncluded(round, participant);
        revert LedgerAlreadyAttested(round, participant);
    }

    /// @dev `max(1, ceil(included * quorumBps / 10000))`.
    function _quorumFor(uint256 included) internal view virtual returns (uint32) {
        uint256 quorum = (included * _quorumBps + _BPS - 1) / _BPS;
        return quorum == 0 ? 1 : uint32(quorum);
    }
}
