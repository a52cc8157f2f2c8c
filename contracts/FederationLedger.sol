// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ContributionToken} from "./ContributionToken.sol";

/**
 * @title FederationLedger
 * @notice On-chain audit log of one federated-learning federation: who may take
 * part, the hash of the shared encryption parameters, and for every round the
 * base model, each participant's update commitment, the aggregate, the included
 * participants (who are rewarded with {ContributionToken}s) and the model that a
 * quorum of them attested.
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
contract FederationLedger is AccessControl {
    // ------------------------------------------------------------------ types

    /// @notice Life-cycle state of a round.
    enum RoundStatus {
        None,
        Open,
        Closed,
        Published,
        Failed
    }

    /// @notice Everything the ledger knows about one round (see {getRound}).
    struct RoundInfo {
        RoundStatus status;
        uint64 deadline;
        uint32 minUpdates;
        uint32 includedCount;
        uint32 quorum;
        bytes32 baseModelHash;
        bytes32 aggregateHash;
        bytes32 publishedModelHash;
    }

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

    // ------------------------------------------------------------------ errors

    /// @notice `quorumBps` is not in 1..10000.
    error LedgerInvalidQuorum(uint16 quorumBps);
    /// @notice An address argument is the zero address.
    error LedgerZeroAddress();
    /// @notice A hash argument is zero.
    error LedgerZeroHash();
    /// @notice `publicKey` is not the 64-byte uncompressed secp256k1 key of `participant`.
    error LedgerInvalidPublicKey(address participant);
    /// @notice `participant` is already admitted.
    error LedgerAlreadyAdmitted(address participant);
    /// @notice `participant` is not an admitted participant.
    error LedgerNotParticipant(address participant);
    /// @notice The encryption parameters hash is already committed.
    error LedgerParamsAlreadyCommitted();
    /// @notice No encryption parameters hash is committed yet.
    error LedgerParamsNotCommitted();
    /// @notice `caller` is not the appointed key dealer.
    error LedgerNotKeyDealer(address caller);
    /// @notice Rounds are numbered 1, 2, 3...: `expected` was due, `got` was given.
    error LedgerUnexpectedRound(uint64 expected, uint64 got);
    /// @notice The previous round `round` is neither Published nor Failed.
    error LedgerPreviousRoundPending(uint64 round);
    /// @notice `deadline` is not in the future.
    error LedgerInvalidDeadline(uint64 deadline);
    /// @notice `minUpdates` is zero.
    error LedgerInvalidMinUpdates();
    /// @notice Round `round` is not Open.
    error LedgerRoundNotOpen(uint64 round);
    /// @notice Round `round` stopped accepting commitments at `deadline`.
    error LedgerDeadlinePassed(uint64 round, uint64 deadline);
    /// @notice `participant` already committed an update in round `round`.
    error LedgerAlreadyCommitted(uint64 round, address participant);
    /// @notice Closing round `round` with `included` updates, fewer than `minUpdates`.
    error LedgerTooFewUpdates(uint64 round, uint256 included, uint32 minUpdates);
    /// @notice `included[index]` is not strictly greater than `included[index - 1]`.
    error LedgerIncludedNotSorted(uint256 index);
    /// @notice `participant` has no update commitment in round `round`.
    error LedgerMissingCommitment(uint64 round, address participant);
    /// @notice Round `round` is neither Open nor Closed.
    error LedgerRoundNotAbandonable(uint64 round);
    /// @notice Round `round` is neither Closed nor Published.
    error LedgerRoundNotClosed(uint64 round);
    /// @notice `participant` is not among the included participants of round `round`.
    error LedgerNotIncluded(uint64 round, address participant);
    /// @notice `participant` already attested a model for round `round`.
    error LedgerAlreadyAttested(uint64 round, address participant);

    // ------------------------------------------------------------------ events

    /// @notice `participant` was admitted with its secp256k1 `publicKey` (64 bytes, x||y).
    event ParticipantAdmitted(address indexed participant, bytes publicKey);
    /// @notice `participant` was removed from the federation.
    event ParticipantRemoved(address indexed participant);
    /// @notice `dealer` was appointed to generate and distribute the CKKS keys.
    event KeyDealerAppointed(address indexed dealer);
    /// @notice The key dealer committed the keccak256 hash of the public encryption parameters.
    event EncryptionParamsCommitted(address indexed dealer, bytes32 paramsHash);
    /// @notice The reward per included update changed from `previous` to `current`.
    event RewardPerUpdateChanged(uint256 previous, uint256 current);
    /// @notice Round `round` opened on `baseModelHash`, accepting commitments until `deadline`.
    event RoundOpened(uint64 indexed round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates);
    /// @notice `participant` committed the keccak256 hash of its encrypted update in round `round`.
    event UpdateCommitted(uint64 indexed round, address indexed participant, bytes32 updateHash);
    /// @notice Round `round` closed on `aggregateHash`; each of `included` received `rewardPerUpdate`.
    event RoundClosed(uint64 indexed round, bytes32 aggregateHash, address[] included, uint256 rewardPerUpdate);
    /// @notice Round `round` was abandoned.
    event RoundFailed(uint64 indexed round, string reason);
    /// @notice `participant` attested `modelHash` for round `round`, now attested `attestations` times.
    event ModelAttested(uint64 indexed round, address indexed participant, bytes32 modelHash, uint32 attestations);
    /// @notice `modelHash` reached the quorum of round `round` with `attestations` attestations.
    event ModelPublished(uint64 indexed round, bytes32 modelHash, uint32 attestations);

    // ------------------------------------------------------------------ modifiers

    /// @dev Reverts with {LedgerZeroHash} if `hash` is zero.
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

    /**
     * @notice Admits `participant`, recording its account public key (used to seal the
     * shared CKKS secret key to it).
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE};
     * - `participant` is not the zero address ({LedgerZeroAddress});
     * - `publicKey` is 64 bytes and hashes to `participant` ({LedgerInvalidPublicKey});
     * - `participant` is not admitted ({LedgerAlreadyAdmitted}).
     *
     * Emits a {ParticipantAdmitted} event.
     * @param participant The participant's account.
     * @param publicKey The account's uncompressed secp256k1 public key, x||y without the 0x04 prefix.
     */
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

    /**
     * @notice Removes `participant`. Its past commitments, inclusions and attestations stay
     * on record; it can be admitted again later.
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE};
     * - `participant` is admitted ({LedgerNotParticipant}).
     *
     * Emits a {ParticipantRemoved} event.
     * @param participant The participant's account.
     */
    function removeParticipant(address participant) external virtual onlyRole(OPERATOR_ROLE) {
        _checkParticipant(participant);
        _removeFromList(participant);
        delete _publicKeys[participant];
        emit ParticipantRemoved(participant);
    }

    // ------------------------------------------------------------------ encryption parameters

    /**
     * @notice Appoints `dealer` as the key dealer, the participant that generates the CKKS
     * keys and commits the public parameters hash. Can be changed until that commit.
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE};
     * - `dealer` is admitted ({LedgerNotParticipant});
     * - no parameters hash is committed yet ({LedgerParamsAlreadyCommitted}).
     *
     * Emits a {KeyDealerAppointed} event.
     * @param dealer The key dealer's account.
     */
    function appointKeyDealer(address dealer) external virtual onlyRole(OPERATOR_ROLE) {
        _checkParticipant(dealer);
        if (_encryptionParamsHash != bytes32(0)) revert LedgerParamsAlreadyCommitted();
        _keyDealer = dealer;
        emit KeyDealerAppointed(dealer);
    }

    /**
     * @notice Commits the keccak256 hash of the federation's public CKKS parameters, once.
     *
     * Requirements:
     * - the caller is the key dealer ({LedgerNotKeyDealer});
     * - no parameters hash is committed yet ({LedgerParamsAlreadyCommitted});
     * - `paramsHash` is not zero ({LedgerZeroHash}).
     *
     * Emits an {EncryptionParamsCommitted} event.
     * @param paramsHash keccak256 of the serialized public parameters.
     */
    function commitEncryptionParams(bytes32 paramsHash) external virtual {
        if (msg.sender != _keyDealer) revert LedgerNotKeyDealer(msg.sender);
        if (_encryptionParamsHash != bytes32(0)) revert LedgerParamsAlreadyCommitted();
        if (paramsHash == bytes32(0)) revert LedgerZeroHash();
        _encryptionParamsHash = paramsHash;
        emit EncryptionParamsCommitted(msg.sender, paramsHash);
    }

    // ------------------------------------------------------------------ reward

    /**
     * @notice Sets the tokens (in 10^-18 units) minted per included update in rounds closed from now on.
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE}.
     *
     * Emits a {RewardPerUpdateChanged} event.
     * @param newReward The new reward; zero disables rewards.
     */
    function setRewardPerUpdate(uint256 newReward) external virtual onlyRole(OPERATOR_ROLE) {
        uint256 previous = _rewardPerUpdate;
        _rewardPerUpdate = newReward;
        emit RewardPerUpdateChanged(previous, newReward);
    }

    // ------------------------------------------------------------------ rounds

    /**
     * @notice Opens round `round` on the global model `baseModelHash`.
     *
     * Requirements:
     * - the caller has {AGGREGATOR_ROLE};
     * - `round` is `currentRound() + 1` ({LedgerUnexpectedRound});
     * - the previous round, if any, is Published or Failed ({LedgerPreviousRoundPending});
     * - the encryption parameters hash is committed ({LedgerParamsNotCommitted});
     * - `deadline` is later than the current block's timestamp ({LedgerInvalidDeadline});
     * - `minUpdates` is at least 1 ({LedgerInvalidMinUpdates});
     * - `baseModelHash` is not zero ({LedgerZeroHash}).
     *
     * Emits a {RoundOpened} event.
     * @param round The new round's number.
     * @param baseModelHash keccak256 of the canonical bytes of the model participants start from.
     * @param deadline Last timestamp (inclusive, seconds) at which commitments are accepted.
     * @param minUpdates Fewest included updates with which the round can close.
     */
    function openRound(uint64 round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates)
        external
        virtual
        onlyRole(AGGREGATOR_ROLE)
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
        if (baseModelHash == bytes32(0)) revert LedgerZeroHash();

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
     * @notice Commits the keccak256 hash of the caller's encrypted update for round `round`.
     *
     * Requirements:
     * - the caller is admitted ({LedgerNotParticipant});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - the round's deadline has not passed ({LedgerDeadlinePassed});
     * - the caller has not committed in this round ({LedgerAlreadyCommitted});
     * - `updateHash` is not zero ({LedgerZeroHash}).
     *
     * Emits an {UpdateCommitted} event.
     * @dev The hot path of every participant: it reads the caller's record and the round's
     * packed state and rewrites two warm non-zero slots (the record and the latest
     * commitment), plus one log: about 36k gas, no fresh storage slot.
     * @param round The round's number.
     * @param updateHash keccak256 of the encrypted update blob.
     */
    function commitUpdate(uint64 round, bytes32 updateHash) external virtual {
        Participant storage record = _participants[msg.sender];
        (uint64 position, uint64 lastCommitRound) = (record.position, record.lastCommitRound);
        if (position == 0) revert LedgerNotParticipant(msg.sender);
        RoundState storage state = _roundStates[round];
        (RoundStatus status, uint64 deadline) = (state.status, state.deadline);
        if (status != RoundStatus.Open) revert LedgerRoundNotOpen(round);
        if (block.timestamp > deadline) revert LedgerDeadlinePassed(round, deadline);
        if (lastCommitRound == round) revert LedgerAlreadyCommitted(round, msg.sender);
        if (updateHash == bytes32(0)) revert LedgerZeroHash();
        record.lastCommitRound = round;
        _latestCommitments[msg.sender] = updateHash;
        emit UpdateCommitted(round, msg.sender, updateHash);
    }

    /**
     * @notice Closes round `round` on the aggregate of the updates of `included`, and mints
     * {rewardPerUpdate} tokens to each of them. Sets the round's quorum to
     * `max(1, ceil(included.length * quorumBps / 10000))`.
     *
     * Requirements:
     * - the caller has {AGGREGATOR_ROLE};
     * - `aggregateHash` is not zero ({LedgerZeroHash});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - `included` has at least the round's `minUpdates` entries ({LedgerTooFewUpdates});
     * - `included` is strictly ascending ({LedgerIncludedNotSorted}), so it has no duplicates;
     * - every included participant committed an update in this round ({LedgerMissingCommitment}).
     *
     * Emits a {RoundClosed} event, and a {ContributionToken-Transfer} per included participant
     * when the reward is not zero.
     * @param round The round's number.
     * @param aggregateHash keccak256 of the aggregate (homomorphic sum) blob.
     * @param included The participants whose updates are in the aggregate, sorted ascending.
     */
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

    /**
     * @notice Marks round `round` Failed (e.g. too few updates by the deadline, or no quorum
     * in sight), so that the next round can open. Rewards already minted stay.
     *
     * Requirements:
     * - the caller has {AGGREGATOR_ROLE};
     * - round `round` is Open or Closed ({LedgerRoundNotAbandonable}).
     *
     * Emits a {RoundFailed} event.
     * @param round The round's number.
     * @param reason Why the round was abandoned, for humans.
     */
    function abandonRound(uint64 round, string calldata reason) external virtual onlyRole(AGGREGATOR_ROLE) {
        RoundState storage state = _roundStates[round];
        RoundStatus status = state.status;
        if (status != RoundStatus.Open && status != RoundStatus.Closed) revert LedgerRoundNotAbandonable(round);
        state.status = RoundStatus.Failed;
        emit RoundFailed(round, reason);
    }

    /**
     * @notice Attests that the caller, an included participant of round `round`, decrypted the
     * round's aggregate into the model whose canonical bytes hash to `modelHash`. When the
     * attestations of one hash reach the round's quorum while the round is Closed, that model
     * is published. Later attestations are recorded but never re-publish.
     *
     * Requirements:
     * - round `round` is Closed or Published ({LedgerRoundNotClosed});
     * - the caller is included in round `round` ({LedgerNotIncluded});
     * - the caller has not attested in this round ({LedgerAlreadyAttested});
     * - `modelHash` is not zero ({LedgerZeroHash}).
     *
     * Emits a {ModelAttested} event, and a {ModelPublished} event when the quorum is reached.
     * @param round The round's number.
     * @param modelHash keccak256 of the resulting model's canonical bytes.
     */
    function attestModel(uint64 round, bytes32 modelHash) external virtual {
        RoundState memory state = _roundStates[round];
        if (state.status != RoundStatus.Closed && state.status != RoundStatus.Published) {
            revert LedgerRoundNotClosed(round);
        }
        mapping(address => uint8) storage roundFlags = _flags[round];
        uint8 flags = roundFlags[msg.sender];
        if (flags & _INCLUDED == 0) revert LedgerNotIncluded(round, msg.sender);
        if (flags & _ATTESTED != 0) revert LedgerAlreadyAttested(round, msg.sender);
        if (modelHash == bytes32(0)) revert LedgerZeroHash();

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

    /// @notice The federation's {ContributionToken}, minted only by this ledger.
    /// @return The token's address.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice Tokens (in 10^-18 units) minted per included update.
    /// @return The current reward.
    function rewardPerUpdate() external view returns (uint256) {
        return _rewardPerUpdate;
    }

    /// @notice Share of included participants, in basis points, needed to publish a model.
    /// @return The quorum rule in basis points (1..10000).
    function quorumBps() external view returns (uint16) {
        return _quorumBps;
    }

    /// @notice The appointed key dealer.
    /// @return The dealer's account, or the zero address if none was appointed.
    function keyDealer() external view returns (address) {
        return _keyDealer;
    }

    /// @notice keccak256 of the federation's public CKKS parameters.
    /// @return The committed hash, or zero if not committed yet.
    function encryptionParamsHash() external view returns (bytes32) {
        return _encryptionParamsHash;
    }

    /// @notice Whether `account` is currently an admitted participant.
    /// @param account The account to check.
    /// @return True if admitted.
    function isParticipant(address account) external view returns (bool) {
        return _participants[account].position != 0;
    }

    /// @notice The secp256k1 public key (64 bytes, x||y) recorded when `participant` was admitted.
    /// @param participant The participant's account.
    /// @return The key, or empty bytes if `participant` is not currently admitted.
    function participantPublicKey(address participant) external view returns (bytes memory) {
        return _publicKeys[participant];
    }

    /// @notice Number of currently admitted participants.
    /// @return The count.
    function participantCount() external view returns (uint256) {
        return _participantList.length;
    }

    /// @notice The currently admitted participants, in no particular order.
    /// @dev Copies the whole set to memory: meant for off-chain calls.
    /// @return The participants' accounts.
    function participants() external view returns (address[] memory) {
        return _participantList;
    }

    /// @notice Number of the latest opened round.
    /// @return The round number, 0 before the first round.
    function currentRound() external view returns (uint64) {
        return _currentRound;
    }

    /// @notice Everything recorded about round `round`.
    /// @param round The round's number.
    /// @return info The round; all zero (status None) for a round never opened.
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

    /// @notice The update commitment of `participant` in round `round`, when it is the
    /// participant's latest commitment (always so for the open round).
    /// @dev Earlier commitments are in the {UpdateCommitted} event log.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return The committed hash, or zero if none (or if a later round superseded it).
    function updateCommitment(uint64 round, address participant) external view returns (bytes32) {
        if (round == 0 || _participants[participant].lastCommitRound != round) return bytes32(0);
        return _latestCommitments[participant];
    }

    /// @notice The round of `participant`'s latest update commitment.
    /// @param participant The participant's account.
    /// @return The round number, 0 if it never committed.
    function lastCommitRound(address participant) external view returns (uint64) {
        return _participants[participant].lastCommitRound;
    }

    /// @notice Whether `participant`'s update is in round `round`'s aggregate.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return True if included.
    function isIncluded(uint64 round, address participant) external view returns (bool) {
        return _flags[round][participant] & _INCLUDED != 0;
    }

    /// @notice Whether `participant` attested a model for round `round`.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return True if attested.
    function hasAttested(uint64 round, address participant) external view returns (bool) {
        return _flags[round][participant] & _ATTESTED != 0;
    }

    /// @notice How many included participants attested `modelHash` for round `round`.
    /// @param round The round's number.
    /// @param modelHash The model hash.
    /// @return The number of attestations.
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
