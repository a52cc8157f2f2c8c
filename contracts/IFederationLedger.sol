// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/**
 * @title IFederationLedger
 * @notice The external face of {FederationLedger}: the round types, every event and custom
 * error, and every external function, documented here once. The ledger also exposes
 * OpenZeppelin's `AccessControl` (`hasRole`, `grantRole`…, `RoleGranted`/`RoleRevoked`,
 * `AccessControlUnauthorizedAccount`), its role identifiers `OPERATOR_ROLE`,
 * `AGGREGATOR_ROLE`, `RELAYER_ROLE` and `AUDITOR_ROLE`, OpenZeppelin's `EIP712`
 * (`eip712Domain()`, ERC-5267: name "FederationLedger", version "1", the chain id and the
 * ledger's address) and the EIP-712 type hashes `UPDATE_COMMITMENT_TYPEHASH`,
 * `MODEL_ATTESTATION_TYPEHASH` and `ENCRYPTION_PARAMS_TYPEHASH`.
 * @dev Errors are named `Ledger…` (the ledger's domain prefix; its token's errors are
 * `Token…`). Where a function lists several requirements, they are checked in the order
 * listed, so a call that breaks several reports the first.
 *
 * Participants sign three EIP-712 typed messages with their account keys, so that an
 * account holding {RELAYER_ROLE} can submit them and participants need no ether:
 * `UpdateCommitment(uint64 round,bytes32 updateHash)`,
 * `ModelAttestation(uint64 round,bytes32 modelHash)` and
 * `EncryptionParams(bytes32 paramsHash)`. The domain binds each signature to one chain and
 * one ledger; the round in the message binds it to one round.
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
        uint64 openedAt;
        bytes32 baseModelHash;
        bytes32 aggregateHash;
        bytes32 publishedModelHash;
    }

    /// @notice One relayed message: the hash a participant signed, and its EIP-2098 compact
    /// signature (`r`, and `vs` = `s` with the parity of `v` in its top bit), so that every
    /// item of a batch takes four fixed words of calldata.
    struct SignedItem {
        address signer;
        bytes32 hash;
        bytes32 r;
        bytes32 vs;
    }

    // ------------------------------------------------------------------ events

    /// @notice `participant` was admitted; emitted by {admitParticipant} and
    /// {admitParticipants}. The ledger keeps no public key in storage: this event is where
    /// readers find it ({admissionBlock} names the block).
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
    /// emitted once, by {commitEncryptionParams} or {relayEncryptionParams}.
    /// @param dealer The key dealer that committed.
    /// @param paramsHash keccak256 of the serialized public CKKS parameters.
    event EncryptionParamsCommitted(address indexed dealer, bytes32 paramsHash);

    /// @notice The reward per included update changed; emitted by {setRewardPerUpdate}.
    /// @param previous The reward before (in 10^-18 token units).
    /// @param current The reward for rounds closed from now on.
    event RewardPerUpdateChanged(uint256 previous, uint256 current);

    /// @notice The federation's pairwise-masking setting; emitted by the constructor (the
    /// default) and by {configureMasking}.
    /// @param enabled Whether participants mask their updates.
    /// @param completeUpTo Rounds with at most this many participants mask between all pairs.
    /// @param degree Above that, the degree of the k-regular neighbour graph; 0 means
    /// `2 * ceil(log2 n)` for n participants.
    event MaskingConfigured(bool enabled, uint16 completeUpTo, uint16 degree);

    /// @notice A round opened; emitted by {openRound}.
    /// @param round The round's number.
    /// @param baseModelHash keccak256 of the model participants start from.
    /// @param deadline Last timestamp (inclusive) at which commitments are accepted.
    /// @param minUpdates Fewest included updates with which the round can close.
    event RoundOpened(uint64 indexed round, bytes32 baseModelHash, uint64 deadline, uint32 minUpdates);

    /// @notice A participant committed its update; emitted by {commitUpdate}. This log and
    /// {UpdatesCommitted} are the only record of the hashes (storage keeps only who committed).
    /// @param round The round's number.
    /// @param participant The committing participant.
    /// @param updateHash keccak256 of its encrypted update blob.
    event UpdateCommitted(uint64 indexed round, address indexed participant, bytes32 updateHash);

    /// @notice The accepted items of one {relayCommitments} batch, in batch order: for each
    /// `i`, exactly what an {UpdateCommitted}`(round, participants[i], updateHashes[i])`
    /// records. One log per batch instead of one per item (as ERC-1155's `TransferBatch`
    /// stands for many `TransferSingle`s); not emitted when the batch accepted no item.
    /// @param round The round's number.
    /// @param participants The committing participants.
    /// @param updateHashes keccak256 of each one's encrypted update blob.
    event UpdatesCommitted(uint64 indexed round, address[] participants, bytes32[] updateHashes);

    /// @notice A round closed on its aggregate; emitted by {closeRound}, after one token
    /// `Transfer` (mint) per included participant when the reward is not zero.
    /// @param round The round's number.
    /// @param aggregateHash keccak256 of the aggregate blob.
    /// @param included The participants whose updates are in the aggregate, ascending.
    /// @param rewardPerUpdate The reward each of them received (in 10^-18 token units).
    /// @param dropped The participants of the round's mask graph whose updates were not
    /// included, ascending (empty without masking).
    /// @param correctionsHash keccak256 of the canonical list of revealed mask seeds the
    /// aggregator applied; zero when none.
    event RoundClosed(
        uint64 indexed round,
        bytes32 aggregateHash,
        address[] included,
        uint256 rewardPerUpdate,
        address[] dropped,
        bytes32 correctionsHash
    );

    /// @notice A round was abandoned (status Failed); emitted by {abandonRound}.
    /// @param round The round's number.
    /// @param reason Why, for humans.
    event RoundFailed(uint64 indexed round, string reason);

    /// @notice An included participant attested a model hash; emitted by {attestModel}. (A
    /// hash's count is {attestationCount}, or the number of its attestations in the log.)
    /// @param round The round's number.
    /// @param participant The attesting participant.
    /// @param modelHash keccak256 of the model it derived from the aggregate.
    event ModelAttested(uint64 indexed round, address indexed participant, bytes32 modelHash);

    /// @notice The accepted items of one {relayAttestations} batch, in batch order: for each
    /// `i`, exactly what a {ModelAttested}`(round, participants[i], modelHashes[i])` records.
    /// One log per batch; not emitted when the batch accepted no item.
    /// @param round The round's number.
    /// @param participants The attesting participants.
    /// @param modelHashes keccak256 of the model each one derived from the aggregate.
    event ModelsAttested(uint64 indexed round, address[] participants, bytes32[] modelHashes);

    /// @notice A model hash reached the round's quorum while the round was Closed: the round
    /// is Published; emitted once per round by {attestModel}, right after the {ModelAttested}
    /// that reached the quorum, or by {relayAttestations}, right after the batch's
    /// {ModelsAttested}.
    /// @param round The round's number.
    /// @param modelHash The published model's hash.
    /// @param attestations Its attestation count (the quorum).
    event ModelPublished(uint64 indexed round, bytes32 modelHash, uint32 attestations);

    /// @notice An item of a relayed batch was refused and skipped, changing nothing; emitted
    /// by {relayCommitments} and {relayAttestations}. The batch's other items stand.
    /// @param round The batch's round.
    /// @param index The item's position in the batch.
    /// @param signer The item's claimed signer.
    /// @param reason The selector of the custom error the item broke: {LedgerZeroHash},
    /// {LedgerInvalidSignature}, {LedgerNotParticipant}, {LedgerAlreadyCommitted},
    /// {LedgerNotIncluded} or {LedgerAlreadyAttested}.
    event RelayedItemRejected(uint64 indexed round, uint256 index, address signer, bytes4 reason);

    // ------------------------------------------------------------------ errors

    /// @notice Raised by the constructor when the quorum is not in 1..10000 basis points.
    /// @param quorumBps The quorum given.
    error LedgerInvalidQuorum(uint16 quorumBps);

    /// @notice Raised by the constructor (zero admin) and {admitParticipant} (zero
    /// participant) when an address argument is the zero address.
    error LedgerZeroAddress();

    /// @notice Raised by {commitEncryptionParams}, {relayEncryptionParams}, {openRound},
    /// {commitUpdate}, {closeRound} and {attestModel} when their hash argument is zero (zero
    /// means "unset" on the ledger); the reason of a relayed item with a zero hash.
    error LedgerZeroHash();

    /// @notice Raised by {admitParticipant} when `publicKey` is not 64 bytes or does not hash
    /// to the participant's address.
    /// @param participant The account being admitted.
    error LedgerInvalidPublicKey(address participant);

    /// @notice Raised by {admitParticipant} for an account that is already admitted.
    /// @param participant The account.
    error LedgerAlreadyAdmitted(address participant);

    /// @notice Raised by {admitParticipants} when its two arrays differ in length.
    /// @param participants The number of participants given.
    /// @param publicKeys The number of public keys given.
    error LedgerLengthMismatch(uint256 participants, uint256 publicKeys);

    /// @notice Raised by the batch functions when given no item.
    error LedgerEmptyBatch();

    /// @notice Raised when an account must be admitted and is not: the target of
    /// {removeParticipant} or {appointKeyDealer}, the caller of {commitUpdate}; the reason of
    /// a relayed commitment whose signer is not admitted.
    /// @param participant The account.
    error LedgerNotParticipant(address participant);

    /// @notice Raised by {appointKeyDealer}, {commitEncryptionParams} and
    /// {relayEncryptionParams} once the encryption parameters hash is committed (it is
    /// committed once, and the dealer is then fixed).
    error LedgerParamsAlreadyCommitted();

    /// @notice Raised by {openRound} while no encryption parameters hash is committed.
    error LedgerParamsNotCommitted();

    /// @notice Raised by {commitEncryptionParams} when the caller is not the key dealer.
    /// @param caller The caller.
    error LedgerNotKeyDealer(address caller);

    /// @notice Raised by {relayEncryptionParams} when the signature is not the key dealer's
    /// signature of the message; the reason of a relayed item whose signature does not
    /// recover to its `signer` (a forgery, or a signature made for another chain, another
    /// ledger, another round or another hash).
    /// @param signer The account the signature had to be from (the key dealer, or the item's
    /// signer).
    error LedgerInvalidSignature(address signer);

    /// @notice Raised by {configureMasking} once a round has opened: every participant and
    /// auditor must read the same setting for the whole federation.
    error LedgerMaskingFixed();

    /// @notice Raised by {configureMasking} for an enabled rule that no neighbour graph can
    /// follow: `completeUpTo` must be at least 1, `degree` 0 (the default) or even and at
    /// least 2 (each participant takes `degree / 2` ring neighbours on either side).
    /// @param completeUpTo The value given.
    /// @param degree The value given.
    error LedgerInvalidMasking(uint16 completeUpTo, uint16 degree);

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

    /// @notice Raised by {commitUpdate}, {relayCommitments} and {closeRound} when the round
    /// is not Open.
    /// @param round The round's number.
    error LedgerRoundNotOpen(uint64 round);

    /// @notice Raised by {commitUpdate} and {relayCommitments} after the round's deadline.
    /// @param round The round's number.
    /// @param deadline The round's deadline (inclusive), passed.
    error LedgerDeadlinePassed(uint64 round, uint64 deadline);

    /// @notice Raised by {commitUpdate} when the caller already committed in the round
    /// (also after being removed and admitted again); the reason of a relayed commitment
    /// whose signer already committed (directly, in an earlier batch or earlier in the same).
    /// @param round The round's number.
    /// @param participant The participant.
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

    /// @notice Raised by {closeRound} when `dropped` is not strictly ascending.
    /// @param index The first index `i` with `dropped[i] <= dropped[i - 1]`.
    error LedgerDroppedNotSorted(uint256 index);

    /// @notice Raised by {closeRound} when a participant is both included and dropped.
    /// @param participant The first such participant.
    error LedgerDroppedIncluded(address participant);

    /// @notice Raised by {closeRound} when participants are dropped or mask corrections
    /// applied while the federation does not mask.
    error LedgerMaskingDisabled();

    /// @notice Raised by {closeRound} when a corrections hash is given but nobody was dropped
    /// (seeds are revealed only for dropped participants).
    error LedgerUnexpectedCorrections();

    /// @notice Raised by {abandonRound} when the round is neither Open nor Closed.
    /// @param round The round's number.
    error LedgerRoundNotAbandonable(uint64 round);

    /// @notice Raised by {attestModel} and {relayAttestations} when the round is neither
    /// Closed nor Published.
    /// @param round The round's number.
    error LedgerRoundNotClosed(uint64 round);

    /// @notice Raised by {attestModel} when the caller is not among the round's included
    /// participants; the reason of such a relayed attestation.
    /// @param round The round's number.
    /// @param participant The participant.
    error LedgerNotIncluded(uint64 round, address participant);

    /// @notice Raised by {attestModel} when the caller already attested in the round; the
    /// reason of such a relayed attestation.
    /// @param round The round's number.
    /// @param participant The participant.
    error LedgerAlreadyAttested(uint64 round, address participant);

    // ------------------------------------------------------------------ participants

    /**
     * @notice Admits `participant`, checking that `publicKey` is its account public key
     * (used to seal the shared CKKS secret key to it). The key is emitted, not stored.
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
     * @notice Admits every participant of `participants` with the public key at the same
     * position of `publicKeys`, as {admitParticipant} does each: all or none.
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE};
     * - the arrays have the same length ({LedgerLengthMismatch}), not zero ({LedgerEmptyBatch});
     * - each pair meets {admitParticipant}'s requirements, checked in order.
     *
     * Emits a {ParticipantAdmitted} event per participant.
     * @param participants The participants' accounts.
     * @param publicKeys Their public keys, 64 bytes each (x||y).
     */
    function admitParticipants(address[] calldata participants, bytes[] calldata publicKeys) external;

    /**
     * @notice Removes `participant`. Its past commitments, inclusions and attestations stay
     * on record; it can be admitted again later, and keeps its place in {participants}' order.
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

    /**
     * @notice Commits the parameters hash that the key dealer signed as the EIP-712 message
     * `EncryptionParams(bytes32 paramsHash)`, so that a dealer without ether can commit.
     *
     * Requirements:
     * - the caller has {RELAYER_ROLE};
     * - `paramsHash` is not zero ({LedgerZeroHash});
     * - `signature` (65 bytes `r||s||v`, or 64 bytes EIP-2098 `r||vs`) is the key dealer's
     *   signature of the message on this ledger and chain ({LedgerInvalidSignature});
     * - no parameters hash is committed yet ({LedgerParamsAlreadyCommitted}).
     *
     * Emits an {EncryptionParamsCommitted} event naming the dealer.
     * @param paramsHash keccak256 of the serialized public parameters.
     * @param signature The key dealer's signature.
     */
    function relayEncryptionParams(bytes32 paramsHash, bytes calldata signature) external;

    // ------------------------------------------------------------------ settings

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

    /**
     * @notice Sets the federation's pairwise-masking rule, before the first round: every
     * participant masks its update with its neighbours' shared seeds; the neighbours are all
     * other participants of the round up to `completeUpTo` participants, else a k-regular
     * graph of degree `degree` (0: `2 * ceil(log2 n)`). The default, set at deployment, is
     * enabled, 32, 0.
     *
     * Requirements:
     * - the caller has {OPERATOR_ROLE};
     * - no round has opened ({LedgerMaskingFixed});
     * - when `enabled`, `completeUpTo` is at least 1 and `degree` is 0 or even and at least 2
     *   ({LedgerInvalidMasking}).
     *
     * Emits a {MaskingConfigured} event.
     * @param enabled Whether participants mask their updates.
     * @param completeUpTo The largest round that masks between all pairs.
     * @param degree The neighbour graph's degree above that size (0: the default).
     */
    function configureMasking(bool enabled, uint16 completeUpTo, uint16 degree) external;

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
     * The censorship-resistant path: a participant whose signed commitment no relayer
     * submitted commits from its own account.
     *
     * Requirements:
     * - `updateHash` is not zero ({LedgerZeroHash});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - the round's deadline has not passed ({LedgerDeadlinePassed});
     * - the caller is admitted ({LedgerNotParticipant});
     * - the caller has not committed in this round ({LedgerAlreadyCommitted}).
     *
     * Emits an {UpdateCommitted} event.
     * @param round The round's number.
     * @param updateHash keccak256 of the encrypted update blob.
     */
    function commitUpdate(uint64 round, bytes32 updateHash) external;

    /**
     * @notice Commits, for each item, the update hash its signer signed as the EIP-712 message
     * `UpdateCommitment(uint64 round,bytes32 updateHash)`, exactly as if the signer had called
     * {commitUpdate}. An item that breaks a rule is skipped with a {RelayedItemRejected}
     * event and changes nothing, so that one participant cannot make the whole batch fail.
     *
     * Requirements (the whole batch):
     * - the caller has {RELAYER_ROLE};
     * - `items` is not empty ({LedgerEmptyBatch});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - the round's deadline has not passed ({LedgerDeadlinePassed}).
     *
     * Each item, in order: its hash is not zero ({LedgerZeroHash}); its signature recovers to
     * its signer ({LedgerInvalidSignature}); the signer is admitted ({LedgerNotParticipant});
     * the signer has not committed in this round ({LedgerAlreadyCommitted}).
     *
     * Emits a {RelayedItemRejected} event per refused item, then one {UpdatesCommitted} event
     * listing the accepted items (none when no item was accepted).
     * @param round The round's number.
     * @param items The signed commitments.
     */
    function relayCommitments(uint64 round, SignedItem[] calldata items) external;

    /**
     * @notice Closes round `round` on the aggregate of the updates of `included`, and mints
     * {rewardPerUpdate} tokens to each of them. Sets the round's quorum to
     * `max(1, ceil(included.length * quorumBps / 10000))`. `dropped` and `correctionsHash`
     * are recorded in the {RoundClosed} event only, for the audit.
     *
     * Requirements:
     * - the caller has {AGGREGATOR_ROLE};
     * - `aggregateHash` is not zero ({LedgerZeroHash});
     * - round `round` is Open ({LedgerRoundNotOpen});
     * - `included` has at least the round's `minUpdates` entries ({LedgerTooFewUpdates});
     * - `included` is strictly ascending ({LedgerIncludedNotSorted}), so it has no duplicates;
     * - every included participant committed an update in this round ({LedgerMissingCommitment});
     * - when `dropped` is not empty or `correctionsHash` not zero, the federation masks
     *   ({LedgerMaskingDisabled});
     * - `dropped` is strictly ascending ({LedgerDroppedNotSorted}) and shares no participant
     *   with `included` ({LedgerDroppedIncluded});
     * - `correctionsHash` is zero when `dropped` is empty ({LedgerUnexpectedCorrections}).
     *
     * Emits a {ContributionToken-Transfer} per included participant when the reward is not
     * zero, then a {RoundClosed} event.
     * @param round The round's number.
     * @param aggregateHash keccak256 of the aggregate (homomorphic sum) blob.
     * @param included The participants whose updates are in the aggregate, sorted ascending.
     * @param dropped The participants of the round's mask graph whose updates were not
     * included, sorted ascending.
     * @param correctionsHash keccak256 of the canonical list of revealed mask seeds applied to
     * the sum; zero when none.
     */
    function closeRound(
        uint64 round,
        bytes32 aggregateHash,
        address[] calldata included,
        address[] calldata dropped,
        bytes32 correctionsHash
    ) external;

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

    /**
     * @notice Records, for each item, the model hash its signer signed as the EIP-712 message
     * `ModelAttestation(uint64 round,bytes32 modelHash)`, exactly as if the signer had called
     * {attestModel} (publishing the model when an item reaches the quorum). An item that
     * breaks a rule is skipped with a {RelayedItemRejected} event and changes nothing.
     *
     * Requirements (the whole batch):
     * - the caller has {RELAYER_ROLE};
     * - `items` is not empty ({LedgerEmptyBatch});
     * - round `round` is Closed or Published ({LedgerRoundNotClosed}).
     *
     * Each item, in order: its hash is not zero ({LedgerZeroHash}); its signature recovers to
     * its signer ({LedgerInvalidSignature}); the signer is included in the round
     * ({LedgerNotIncluded}); the signer has not attested in this round ({LedgerAlreadyAttested}).
     *
     * Emits a {RelayedItemRejected} event per refused item, then one {ModelsAttested} event
     * listing the accepted items (none when no item was accepted), then {ModelPublished} when
     * an item reached the quorum.
     * @param round The round's number.
     * @param items The signed attestations.
     */
    function relayAttestations(uint64 round, SignedItem[] calldata items) external;

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

    /// @notice The federation's pairwise-masking setting (see {configureMasking}).
    /// @return enabled Whether participants mask their updates.
    /// @return completeUpTo The largest round that masks between all pairs.
    /// @return degree The neighbour graph's degree above that size (0: `2 * ceil(log2 n)`).
    function masking() external view returns (bool enabled, uint16 completeUpTo, uint16 degree);

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

    /// @notice The block in which `participant` was admitted, whose {ParticipantAdmitted}
    /// event carries its public key.
    /// @param participant The participant's account.
    /// @return The block number; 0 if it is not admitted (never, or removed since).
    function admissionBlock(address participant) external view returns (uint64);

    /// @notice Number of currently admitted participants.
    /// @return The count.
    function participantCount() external view returns (uint256);

    /// @notice The currently admitted participants, in order of first admission.
    /// @dev Reads every account ever admitted: meant for off-chain calls.
    /// @return The participants' accounts.
    function participants() external view returns (address[] memory);

    /// @notice Number of the latest opened round.
    /// @return The round number, 0 before the first round.
    function currentRound() external view returns (uint64);

    /// @notice Everything recorded about round `round`.
    /// @param round The round's number.
    /// @return info The round; all zero (status None) for a round never opened.
    function getRound(uint64 round) external view returns (RoundInfo memory info);

    /// @notice Whether `participant` committed an update in round `round`. Storage keeps
    /// commitments per group of 192 participants for their latest round only, so the answer
    /// is always right for the open round, and may be false for an earlier round once a
    /// later round's commitment of the group replaced it: the {UpdateCommitted} log is the
    /// complete record (and the only one of the hashes).
    /// @param round The round's number.
    /// @param participant The participant's account.
    /// @return True if committed (as far as storage still knows).
    function hasCommitted(uint64 round, address participant) external view returns (bool);

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

    /// @notice The EIP-712 digest a participant signs to commit `updateHash` in round `round`
    /// on this ledger (`UpdateCommitment(uint64 round,bytes32 updateHash)`), for off-chain
    /// signers to check their own hashing.
    /// @param round The round's number.
    /// @param updateHash keccak256 of the encrypted update blob.
    /// @return The digest to sign.
    function updateCommitmentDigest(uint64 round, bytes32 updateHash) external view returns (bytes32);

    /// @notice The EIP-712 digest a participant signs to attest `modelHash` for round `round`
    /// on this ledger (`ModelAttestation(uint64 round,bytes32 modelHash)`).
    /// @param round The round's number.
    /// @param modelHash keccak256 of the model's canonical bytes.
    /// @return The digest to sign.
    function modelAttestationDigest(uint64 round, bytes32 modelHash) external view returns (bytes32);

    /// @notice The EIP-712 digest the key dealer signs to commit `paramsHash` on this ledger
    /// (`EncryptionParams(bytes32 paramsHash)`).
    /// @param paramsHash keccak256 of the serialized public parameters.
    /// @return The digest to sign.
    function encryptionParamsDigest(bytes32 paramsHash) external view returns (bytes32);
}
