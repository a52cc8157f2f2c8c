// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/**
 * @title IFederationLedger
 * @notice The external face of {FederationLedger}: the round types, every event and custom
 * error, and every external function, documented here once. The ledger also exposes
 * OpenZeppelin's `AccessControl` (`hasRole`, `grantRole`…, `RoleGranted`/`RoleRevoked`,
 * `AccessControlUnauthorizedAccount`) and its role identifiers `OPERATOR_ROLE`,
 * `AGGREGATOR_ROLE` and `AUDITOR_ROLE`.
 * @dev Errors are named `Ledger…` (the ledger's domain prefix; its token's errors are
 * `Token…`). Where a function lists several requirements, they are checked in the order
 * listed, so a call that breaks several reports the first.
 */
interface IFederationLedger {
    // ------------------------------------------------------------------ types

    /// @notice Life-cycle state of a round: `None → Open → Closed → Published`, or
    /// `Open|Closed → Failed`.
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

    // ------------------------------------------------------------------ events

    /// @notice `participant` was admitted; emitted by {admitParticipant}.
    /// @param participant The admitted account.
    /// @param publicKey Its uncompressed secp256k1 public key, 64 bytes (x||y).
    event ParticipantAdmitted(address indexed participant, bytes publicKey);

    /// @notice `participant` was removed from the federation; emitted by {removeParticipant}.
    /// @param participant The removed account.
    event ParticipantRemoved(address indexed participant);

    /// @notice `dealer` was appointed to generate and distribute the CKKS keys; emitted by
    /// {appointKeyDealer}, once per appointment (the dealer can change until the commit).
    /// @param dealer The key dealer's account.
    event KeyDealerAppointed(address indexed dealer);

    /// @notice The key dealer committed the hash of the public encryption parameters;
    /// emitted once, by {commitEncryptionParams}.
    /// @param dealer The key dealer that committed.
    /// @param paramsHash keccak256 of the serialized public CKKS parameters.
    event EncryptionParamsCommitted(address indexed dealer, bytes32 paramsHash);

    /// @notice The reward per included update changed; emitted by {setRewardPerUpdate}.
    /// @param previous The reward before (in 10^-18 token units).
    /// @param current The reward for rounds closed from now on.
    event RewardPerUpdateChanged(uint256 previous, uint256 current);

    /// @notice A round opened; emitted by {openRound}.
    /// @param round The round's number.
    /// @param baseModelHash keccak256 of the model participants start from.
    /// @param deadline Last timestamp (inclusive) at which commitments are accepted.
    /// @param minUpdates Fewest included updates with which the round can close.
    event RoundOpened(uint64 indexed round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates);

    /// @notice A participant committed its update; emitted by {commitUpdate}. This log is the
    /// complete history of commitments (storage keeps only each participant's latest).
    /// @param round The round's number.
    /// @param participant The committing participant.
    /// @param updateHash keccak256 of its encrypted update blob.
    event UpdateCommitted(uint64 indexed round, address indexed participant, bytes32 updateHash);

    /// @notice A round closed on its aggregate; emitted by {closeRound}, after one token
    /// `Transfer` (mint) per included participant when the reward is not zero.
    /// @param round The round's number.
    /// @param aggregateHash keccak256 of the aggregate blob.
    /// @param included The participants whose updates are in the aggregate, ascending.
    /// @param rewardPerUpdate The reward each of them received (in 10^-18 token units).
    event RoundClosed(uint64 indexed round, bytes32 aggregateHash, address[] included, uint256 rewardPerUpdate);

    /// @notice A round was abandoned (status Failed); emitted by {abandonRound}.
    /// @param round The round's number.
    /// @param reason Why, for humans.
    event RoundFailed(uint64 indexed round, string reason);

    /// @notice An included participant attested a model hash; emitted by {attestModel}.
    /// @param round The round's number.
    /// @param participant The attesting participant.
    /// @param modelHash keccak256 of the model it derived from the aggregate.
    /// @param attestations How many attestations `modelHash` has in the round, this one included.
    event ModelAttested(uint64 indexed round, address indexed participant, bytes32 modelHash, uint32 attestations);

    /// @notice A model hash reached the round's quorum while the round was Closed: the round
    /// is Published; emitted by {attestModel}, once per round, after {ModelAttested}.
    /// @param round The round's number.
    /// @param modelHash The published model's hash.
    /// @param attestations Its attestation count (the quorum).
    event ModelPublished(uint64 indexed round, bytes32 modelHash, uint32 attestations);

    // ------------------------------------------------------------------ errors

    /// @notice Raised by the constructor when the quorum is not in 1..10000 basis points.
    /// @param quorumBps The quorum given.
    error LedgerInvalidQuorum(uint16 quorumBps);

    /// @notice Raised by the constructor (zero admin) and {admitParticipant} (zero
    /// participant) when an address argument is the zero address.
    error LedgerZeroAddress();

    /// @notice Raised by {commitEncryptionParams}, {openRound}, {commitUpdate}, {closeRound}
    /// and {attestModel} when their hash argument is zero (zero means "unset" on the ledger).
    error LedgerZeroHash();

    /// @notice Raised by {admitParticipant} when `publicKey` is not 64 bytes or does not hash
    /// to the participant's address.
    /// @param participant The account being admitted.
    error LedgerInvalidPublicKey(address participant);

    /// @notice Raised by {admitParticipant} for an account that is already admitted.
    /// @param participant The account.
    error LedgerAlreadyAdmitted(address participant);

    /// @notice Raised when an account must be admitted and is not: the target of
    /// {removeParticipant} or {appointKeyDealer}, the caller of {commitUpdate}.
    /// @param participant The account.
    error LedgerNotParticipant(address participant);

    /// @notice Raised by {appointKeyDealer} and {commitEncryptionParams} once the encryption
    /// parameters hash is committed (it is committed once, and the dealer is then fixed).
    error LedgerParamsAlreadyCommitted();

    /// @notice Raised by {openRound} while no encryption parameters hash is committed.
    error LedgerParamsNotCommitted();

    /// @notice Raised by {commitEncryptionParams} when the caller is not the key dealer.
    /// @param caller The caller.
    error LedgerNotKeyDealer(address caller);

    /// @notice Raised by {openRound} when `round` is not `currentRound() + 1`.
    /// @param expected The number due.
    /// @param got The number given.
    error LedgerUnexpectedRound(uint64 expected, uint64 got);

    /// @notice Raised by {openRound} while the previous round is neither Published nor Failed.
    /// @param round The previous round's number.
    error LedgerPreviousRoundPending(uint64 round);

    /// @notice Raised by {openRound} when the deadline is not after the block's timestamp.
    /// @param deadline The deadline given.
    error LedgerInvalidDeadline(uint64 deadline);

    /// @notice Raised by {openRound} when `minUpdates` is zero.
    error LedgerInvalidMinUpdates();

    /// @notice Raised by {commitUpdate} and {closeRound} when the round is not Open.
    /// @param round The round's number.
    error LedgerRoundNotOpen(uint64 round);

    /// @notice Raised by {commitUpdate} after the round's deadline.
    /// @param round The round's number.
    /// @param deadline The round's deadline (inclusive), passed.
    error LedgerDeadlinePassed(uint64 round, uint64 deadline);

    /// @notice Raised by {commitUpdate} when the caller already committed in the round
    /// (also after being removed and admitted again).
    /// @param round The round's number.
    /// @param participant The caller.
    error LedgerAlreadyCommitted(uint64 round, address participant);

    /// @notice Raised by {closeRound} when fewer participants are included than the round's
    /// `minUpdates`.
    /// @param round The round's number.
    /// @param included The number of included participants given.
    /// @param minUpdates The round's minimum.
    error LedgerTooFewUpdates(uint64 round, uint256 included, uint32 minUpdates);

    /// @notice Raised by {closeRound} when `included` is not strictly ascending (which also
    /// rules out duplicates).
    /// @param index The first index `i` with `included[i] <= included[i - 1]`.
    error LedgerIncludedNotSorted(uint256 index);

    /// @notice Raised by {closeRound} when an included participant has no commitment in the
    /// round.
    /// @param round The round's number.
    /// @param participant The first such participant.
    error LedgerMissingCommitment(uint64 round, address participant);

    /// @notice Raised by {abandonRound} when the round is neither Open nor Closed.
    /// @param round The round's number.
    error LedgerRoundNotAbandonable(uint64 round);

    /// @notice Raised by {attestModel} when the round is neither Closed nor Published.
    /// @param round The round's number.
    error LedgerRoundNotClosed(uint64 round);

    /// @notice Raised by {attestModel} when the caller is not among the round's included
    /// participants.
    /// @param round The round's number.
    /// @param participant The caller.
    error LedgerNotIncluded(uint64 round, address participant);

    /// @notice Raised by {attestModel} when the caller already attested in the round.
    /// @param round The round's number.
    /// @param participant The caller.
    error LedgerAlreadyAttested(uint64 round, address participant);

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
    function admitParticipant(address participant, bytes calldata publicKey) external;

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
    function removeParticipant(address participant) external;

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
    function appointKeyDealer(address dealer) external;

    /**
     * @notice Commits the keccak256 hash of the federation's public CKKS parameters, once.
     *
     * Requirements:
     * - `paramsHash` is not zero ({LedgerZeroHash});
     * - the caller is the key dealer ({LedgerNotKeyDealer});
     * - no parameters hash is committed yet ({LedgerParamsAlreadyCommitted}).
     *
     * Emits an {EncryptionParamsCommitted} event.
     * @param paramsHash keccak256 of the serialized public parameters.
     */
    function commitEncryptionParams(bytes32 paramsHash) external;

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
    function setRewardPerUpdate(uint256 newReward) external;

    // ------------------------------------------------------------------ rounds

    /**
     * @notice Opens round `round` on the global model `baseModelHash`.
     *
     * Requirements:
     * - the caller has {AGGREGATOR_ROLE};
     * - `baseModelHash` is not zero ({LedgerZeroHash});
     * - `round` is `currentRound() + 1` ({LedgerUnexpectedRound});
     * - the previous round, if any, is Published or Failed ({LedgerPreviousRoundPending});
     * - the encryption parameters hash is committed ({LedgerParamsNotCommitted});
     * - `deadline` is later than the current block's timestamp ({LedgerInvalidDeadline});
     * - `minUpdates` is at least 1 ({LedgerInvalidMinUpdates}).
     *
     * Emits a {RoundOpened} event.
     * @param round The new round's number.
     * @param baseModelHash keccak256 of the canonical bytes of the model participants start from.
     * @param deadline Last timestamp (inclusive, seconds) at which commitments are accepted.
     * @param minUpdates Fewest included updates with which the round can close.
     */
    function openRound(uint64 round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates) external;

    /**
     * @notice Commits the keccak256 hash of the caller's encrypted update for round `round`.
     *
     * Requirements:
     * - `updateHash` is not zero ({LedgerZeroHash});
     * - the caller is admitted ({LedgerNotParticipant});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - the round's deadline has not passed ({LedgerDeadlinePassed});
     * - the caller has not committed in this round ({LedgerAlreadyCommitted}).
     *
     * Emits an {UpdateCommitted} event.
     * @param round The round's number.
     * @param updateHash keccak256 of the encrypted update blob.
     */
    function commitUpdate(uint64 round, bytes32 updateHash) external;

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
    function closeRound(uint64 round, bytes32 aggregateHash, address[] calldata included) external;

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
    function abandonRound(uint64 round, string calldata reason) external;

    /**
     * @notice Attests that the caller, an included participant of round `round`, decrypted the
     * round's aggregate into the model whose canonical bytes hash to `modelHash`. When the
     * attestations of one hash reach the round's quorum while the round is Closed, that model
     * is published. Later attestations are recorded but never re-publish.
     *
     * Requirements:
     * - `modelHash` is not zero ({LedgerZeroHash});
     * - round `round` is Closed or Published ({LedgerRoundNotClosed});
     * - the caller is included in round `round` ({LedgerNotIncluded});
     * - the caller has not attested in this round ({LedgerAlreadyAttested}).
     *
     * Emits a {ModelAttested} event, and a {ModelPublished} event when the quorum is reached.
     * @param round The round's number.
     * @param modelHash keccak256 of the resulting model's canonical bytes.
     */
    function attestModel(uint64 round, bytes32 modelHash) external;

    // ------------------------------------------------------------------ views

    /// @notice The federation's {ContributionToken}, minted only by this ledger.
    /// @return The token's address.
    function token() external view returns (address);

    /// @notice Tokens (in 10^-18 units) minted per included update.
    /// @return The current reward.
    function rewardPerUpdate() external view returns (uint256);

    /// @notice Share of included participants, in basis points, needed to publish a model.
    /// @return The quorum rule in basis points (1..10000).
    function quorumBps() external view returns (uint16);

    /// @notice The appointed key dealer.
    /// @return The dealer's account, or the zero address if none was appointed.
    function keyDealer() external view returns (address);

    /// @notice keccak256 of the federation's public CKKS parameters.
    /// @return The committed hash, or zero if not committed yet.
    function encryptionParamsHash() external view returns (bytes32);

    /// @notice Whether `account` is currently an admitted participant.
    /// @param account The account to check.
    /// @return True if admitted.
    function isParticipant(address account) external view returns (bool);

    /// @notice The secp256k1 public key (64 bytes, x||y) recorded when `participant` was admitted.
    /// @param participant The participant's account.
    /// @return The key, or empty bytes if `participant` is not currently admitted.
    function participantPublicKey(address participant) external view returns (bytes memory);

    /// @notice Number of currently admitted participants.
    /// @return The count.
    function participantCount() external view returns (uint256);

    /// @notice The currently admitted participants, in no particular order.
    /// @dev Copies the whole set to memory: meant for off-chain calls.
    /// @return The participants' accounts.
    function participants() external view returns (address[] memory);

    /// @notice Number of the latest opened round.
    /// @return The round number, 0 before the first round.
    function currentRound() external view returns (uint64);

    /// @notice Everything recorded about round `round`.
    /// @param round The round's number.
    /// @return info The round; all zero (status None) for a round never opened.
    function getRound(uint64 round) external view returns (RoundInfo memory info);

    /// @notice The update commitment of `participant` in round `round`, when it is the
    /// participant's latest commitment (always so for the open round).
    /// @dev Earlier commitments are in the {UpdateCommitted} event log.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return The committed hash, or zero if none (or if a later round superseded it).
    function updateCommitment(uint64 round, address participant) external view returns (bytes32);

    /// @notice The round of `participant`'s latest update commitment.
    /// @param participant The participant's account.
    /// @return The round number, 0 if it never committed.
    function lastCommitRound(address participant) external view returns (uint64);

    /// @notice Whether `participant`'s update is in round `round`'s aggregate.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return True if included.
    function isIncluded(uint64 round, address participant) external view returns (bool);

    /// @notice Whether `participant` attested a model for round `round`.
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return True if attested.
    function hasAttested(uint64 round, address participant) external view returns (bool);

    /// @notice How many included participants attested `modelHash` for round `round`.
    /// @param round The round's number.
    /// @param modelHash The model hash.
    /// @return The number of attestations.
    function attestationCount(uint64 round, bytes32 modelHash) external view returns (uint32);
}
