// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ContributionToken} from "./ContributionToken.sol";
import {IFederationLedger} from "./IFederationLedger.sol";

/**
 * @title FederationLedger
 * @notice On-chain audit log of one federated-learning federation: who may take
 * part, the hash of the shared encryption parameters, and for every round the
 * base model, each participant's update commitment, the aggregate, the included
 * participants (who are rewarded with {ContributionToken}s) and the model that a
 * quorum of them attested.
 * Its events, custom errors and external functions are declared and documented in
 * {IFederationLedger}.
 * @dev Round life cycle: `None → Open → Closed → Published`, or `Open|Closed → Failed`.
 * Only the latest round can be Open or Closed: a new round opens only once the
 * previous one is Published or Failed.
 *
 * Storage is laid out for the hot paths: a round's status, deadline, counters and
 * quorum share one slot; a participant's admission and the round of its latest
 * commitment share one slot, and its latest commitment sits in a slot seeded non-zero at
 * first admission, so a commit only rewrites warm non-zero slots (no fresh 20k-gas slot
 * per round); the per-(round, participant) flags slot is written non-zero at close so
 * that an attestation only flips it from non-zero to non-zero.
 *
 * Only a participant's *latest* commitment is kept in storage: that is all {closeRound}
 * needs, since at most one round is open at a time. The complete history of commitments
 * is the {UpdateCommitted} event log, which is what auditors read.
 */
contract FederationLedger is AccessControl, IFederationLedger {
    // ------------------------------------------------------------------ types

    /// @dev The part of a round read on every commit and attestation: exactly one slot.
    struct RoundState {
        RoundStatus status;
        uint64 deadline;
        uint32 minUpdates;
        uint32 includedCount;
        uint32 quorum;
    }

    /// @dev A participant's hot slot: list position (0 = not admitted) and the round of its
    /// latest commitment.
    struct Participant {
        uint64 position;
        uint64 lastCommitRound;
    }

    /// @dev The rest of a round.
    struct RoundHashes {
        bytes32 baseModelHash;
        bytes32 aggregateHash;
        bytes32 publishedModelHash;
    }

    // ------------------------------------------------------------------ roles

    /// @notice Admits and removes participants, appoints the key dealer, sets the reward.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Opens, closes and abandons rounds (the aggregator service's account).
    bytes32 public constant AGGREGATOR_ROLE = keccak256("AGGREGATOR_ROLE");
    /// @notice Accounts that the off-chain aggregator lets download individual update blobs.
    /// The ledger itself never checks it.
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");

    // ------------------------------------------------------------------ state

    uint8 private constant _INCLUDED = 1;
    uint8 private constant _ATTESTED = 2;
    uint256 private constant _BPS = 10_000;
    /// @dev Seeds a participant's commitment slot at first admission (never a real hash
    /// commitment in practice: a keccak256 output equal to 1 is not findable).
    bytes32 private constant _UNSET = bytes32(uint256(1));

    ContributionToken private immutable _token;

    // One slot: key dealer, quorum rule, latest round number.
    address private _keyDealer;
    uint16 private _quorumBps;
    uint64 private _currentRound;

    uint256 private _rewardPerUpdate;
    bytes32 private _encryptionParamsHash;

    // Enumerable set of admitted participants (as OpenZeppelin's EnumerableSet, which
    // solc 0.8.37 warns about: its `at` will become a keyword).
    address[] private _participantList;
    /// @dev 1-based position in `_participantList` (0 means not admitted: the admission
    /// check) and the round of the participant's latest commitment.
    mapping(address participant => Participant) private _participants;
    /// @dev The participant's latest update commitment (`_UNSET` before the first one).
    mapping(address participant => bytes32 updateHash) private _latestCommitments;
    mapping(address participant => bytes publicKey) private _publicKeys;

    mapping(uint64 round => RoundState) private _roundStates;
    mapping(uint64 round => RoundHashes) private _roundHashes;
    /// @dev Bit flags `_INCLUDED | _ATTESTED` per (round, participant).
    mapping(uint64 round => mapping(address participant => uint8 flags)) private _flags;
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
     * whose only minter is this ledger.
     *
     * Requirements:
     * - `admin` is not the zero address ({LedgerZeroAddress});
     * - `quorumBps_` is in 1..10000 ({LedgerInvalidQuorum}).
     *
     * Emits {RoleGranted} for `admin`.
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (grants the other roles).
     * @param rewardPerUpdate_ Tokens (in 10^-18 units) minted per included update.
     * @param quorumBps_ Share of a round's included participants, in basis points, whose
     * matching attestations publish a model.
     */
    constructor(address admin, uint256 rewardPerUpdate_, uint16 quorumBps_) {
        if (admin == address(0)) revert LedgerZeroAddress();
        if (quorumBps_ == 0 || quorumBps_ > _BPS) revert LedgerInvalidQuorum(quorumBps_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _rewardPerUpdate = rewardPerUpdate_;
        _quorumBps = quorumBps_;
        _token = new ContributionToken("fedledger Contribution", "FLC", address(this));
    }

    // ------------------------------------------------------------------ participants

    /// @inheritdoc IFederationLedger
    function admitParticipant(address participant, bytes calldata publicKey)
        external
        virtual
        onlyRole(OPERATOR_ROLE)
    {
        if (participant == address(0)) revert LedgerZeroAddress();
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != participant) {
            revert LedgerInvalidPublicKey(participant);
        }
        Participant storage record = _participants[participant];
        if (record.position != 0) revert LedgerAlreadyAdmitted(participant);
        _participantList.push(participant);
        record.position = uint64(_participantList.length);
        if (_latestCommitments[participant] == bytes32(0)) _latestCommitments[participant] = _UNSET;
        _publicKeys[participant] = publicKey;
        emit ParticipantAdmitted(participant, publicKey);
    }

    /// @inheritdoc IFederationLedger
    function removeParticipant(address participant) external virtual onlyRole(OPERATOR_ROLE) {
        _checkParticipant(participant);
        _removeFromList(participant);
        delete _publicKeys[participant];
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
        if (_encryptionParamsHash != bytes32(0)) revert LedgerParamsAlreadyCommitted();
        _encryptionParamsHash = paramsHash;
        emit EncryptionParamsCommitted(msg.sender, paramsHash);
    }

    // ------------------------------------------------------------------ reward

    /// @inheritdoc IFederationLedger
    function setRewardPerUpdate(uint256 newReward) external virtual onlyRole(OPERATOR_ROLE) {
        uint256 previous = _rewardPerUpdate;
        _rewardPerUpdate = newReward;
        emit RewardPerUpdateChanged(previous, newReward);
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
            quorum: 0
        });
        _roundHashes[round].baseModelHash = baseModelHash;
        emit RoundOpened(round, baseModelHash, deadline, minUpdates);
    }

    /**
     * @inheritdoc IFederationLedger
     * @dev The hot path of every participant: it reads the caller's record and the round's
     * packed state and rewrites two warm non-zero slots (the record and the latest
     * commitment), plus one log: about 36k gas, no fresh storage slot.
     */
    function commitUpdate(uint64 round, bytes32 updateHash) external virtual nonZeroHash(updateHash) {
        Participant storage record = _participants[msg.sender];
        (uint64 position, uint64 latestRound) = (record.position, record.lastCommitRound);
        if (position == 0) revert LedgerNotParticipant(msg.sender);
        RoundState storage state = _roundStates[round];
        (RoundStatus status, uint64 deadline) = (state.status, state.deadline);
        if (status != RoundStatus.Open) revert LedgerRoundNotOpen(round);
        if (block.timestamp > deadline) revert LedgerDeadlinePassed(round, deadline);
        if (latestRound == round) revert LedgerAlreadyCommitted(round, msg.sender);
        record.lastCommitRound = round;
        _latestCommitments[msg.sender] = updateHash;
        emit UpdateCommitted(round, msg.sender, updateHash);
    }

    /// @inheritdoc IFederationLedger
    function closeRound(uint64 round, bytes32 aggregateHash, address[] calldata included)
        external
        virtual
        onlyRole(AGGREGATOR_ROLE)
        nonZeroHash(aggregateHash)
    {
        RoundState memory state = _roundStates[round];
        if (state.status != RoundStatus.Open) revert LedgerRoundNotOpen(round);
        uint256 count = included.length;
        if (count < state.minUpdates) revert LedgerTooFewUpdates(round, count, state.minUpdates);

        mapping(address => uint8) storage flags = _flags[round];
        uint256 reward = _rewardPerUpdate;
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            address participant = included[i];
            // Ascending order rules out duplicates; address(0) never has a commitment.
            if (i != 0 && participant <= previous) revert LedgerIncludedNotSorted(i);
            // Rounds start at 1 and only the open round takes commitments, so a participant
            // committed in this round exactly when its latest commitment is from this round.
            if (_participants[participant].lastCommitRound != round) {
                revert LedgerMissingCommitment(round, participant);
            }
            flags[participant] = _INCLUDED;
            if (reward != 0) _token.mint(participant, reward);
            previous = participant;
        }

        state.status = RoundStatus.Closed;
        state.includedCount = uint32(count); // cannot overflow: calldata of 2^32 addresses is unaffordable
        state.quorum = _quorumFor(count);
        _roundStates[round] = state;
        _roundHashes[round].aggregateHash = aggregateHash;
        emit RoundClosed(round, aggregateHash, included, reward);
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
        RoundState memory state = _roundStates[round];
        if (state.status != RoundStatus.Closed && state.status != RoundStatus.Published) {
            revert LedgerRoundNotClosed(round);
        }
        mapping(address => uint8) storage roundFlags = _flags[round];
        uint8 flags = roundFlags[msg.sender];
        if (flags & _INCLUDED == 0) revert LedgerNotIncluded(round, msg.sender);
        if (flags & _ATTESTED != 0) revert LedgerAlreadyAttested(round, msg.sender);

        roundFlags[msg.sender] = flags | _ATTESTED;
        uint32 attestations = ++_attestations[round][modelHash];
        emit ModelAttested(round, msg.sender, modelHash, attestations);

        if (state.status == RoundStatus.Closed && attestations >= state.quorum) {
            _roundStates[round].status = RoundStatus.Published;
            _roundHashes[round].publishedModelHash = modelHash;
            emit ModelPublished(round, modelHash, attestations);
        }
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
    function keyDealer() external view returns (address) {
        return _keyDealer;
    }

    /// @inheritdoc IFederationLedger
    function encryptionParamsHash() external view returns (bytes32) {
        return _encryptionParamsHash;
    }

    /// @inheritdoc IFederationLedger
    function isParticipant(address account) external view returns (bool) {
        return _participants[account].position != 0;
    }

    /// @inheritdoc IFederationLedger
    function participantPublicKey(address participant) external view returns (bytes memory) {
        return _publicKeys[participant];
    }

    /// @inheritdoc IFederationLedger
    function participantCount() external view returns (uint256) {
        return _participantList.length;
    }

    /// @inheritdoc IFederationLedger
    function participants() external view returns (address[] memory) {
        return _participantList;
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
            baseModelHash: hashes.baseModelHash,
            aggregateHash: hashes.aggregateHash,
            publishedModelHash: hashes.publishedModelHash
        });
    }

    /// @inheritdoc IFederationLedger
    function updateCommitment(uint64 round, address participant) external view returns (bytes32) {
        if (round == 0 || _participants[participant].lastCommitRound != round) return bytes32(0);
        return _latestCommitments[participant];
    }

    /// @inheritdoc IFederationLedger
    function lastCommitRound(address participant) external view returns (uint64) {
        return _participants[participant].lastCommitRound;
    }

    /// @inheritdoc IFederationLedger
    function isIncluded(uint64 round, address participant) external view returns (bool) {
        return _flags[round][participant] & _INCLUDED != 0;
    }

    /// @inheritdoc IFederationLedger
    function hasAttested(uint64 round, address participant) external view returns (bool) {
        return _flags[round][participant] & _ATTESTED != 0;
    }

    /// @inheritdoc IFederationLedger
    function attestationCount(uint64 round, bytes32 modelHash) external view returns (uint32) {
        return _attestations[round][modelHash];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Reverts with {LedgerNotParticipant} unless `account` is admitted.
    function _checkParticipant(address account) internal view virtual {
        if (_participants[account].position == 0) revert LedgerNotParticipant(account);
    }

    /// @dev Removes admitted `participant` from the list: the last entry takes its place.
    function _removeFromList(address participant) private {
        uint256 index = _participants[participant].position - 1;
        uint256 lastIndex = _participantList.length - 1;
        if (index != lastIndex) {
            address last = _participantList[lastIndex];
            _participantList[index] = last;
            _participants[last].position = uint64(index + 1);
        }
        _participantList.pop();
        _participants[participant].position = 0; // keeps lastCommitRound: no double commit on re-admission
    }

    /// @dev `max(1, ceil(included * quorumBps / 10000))`.
    function _quorumFor(uint256 included) internal view virtual returns (uint32) {
        uint256 quorum = (included * _quorumBps + _BPS - 1) / _BPS;
        return quorum == 0 ? 1 : uint32(quorum);
    }
}
