import { expect } from "chai";
import { network } from "hardhat";

import {
  AGGREGATOR_ROLE,
  OPERATOR_ROLE,
  REWARD,
  RoundStatus,
  blobHash,
  publicKeyOf,
  shouldRequireRole,
  sortAddresses,
} from "./helpers.js";

const { ethers, networkHelpers } = await network.create();

const HOUR = 3_600n;

/** Five admitted participants (sorted by address), encryption parameters committed, no round yet. */
async function federationFixture() {
  const [admin, operator, aggregator, outsider, ...rest] = await ethers.getSigners();
  const participants = sortAddresses(rest.slice(0, 5));
  const ledger = await ethers.deployContract("FederationLedger", [admin.address, REWARD, 5_000]);
  const token = await ethers.getContractAt("ContributionToken", await ledger.token());
  await ledger.grantRole(OPERATOR_ROLE, operator.address);
  await ledger.grantRole(AGGREGATOR_ROLE, aggregator.address);
  for (const p of participants) {
    await ledger.connect(operator).admitParticipant(p.address, await publicKeyOf(p));
  }
  await ledger.connect(operator).appointKeyDealer(participants[0].address);
  await ledger.connect(participants[0]).commitEncryptionParams(blobHash("params"));
  return { ledger, token, admin, operator, aggregator, outsider, participants };
}

type Fixture = Awaited<ReturnType<typeof federationFixture>>;

const load = () => networkHelpers.loadFixture(federationFixture);

async function deadlineIn(seconds: bigint): Promise<bigint> {
  return BigInt(await networkHelpers.time.latest()) + seconds;
}

/** The fixture with round 1 open (two updates needed) and the first `committers` participants committed. */
async function openAndCommit(committers: number): Promise<Fixture> {
  const fixture = await load();
  const { ledger, aggregator, participants } = fixture;
  await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 2);
  for (const p of participants.slice(0, committers)) {
    await ledger.connect(p).commitUpdate(1, blobHash(`update ${p.address}`));
  }
  return fixture;
}

/** What every AGGREGATOR_ROLE-gated call shares: the contract, the refused callers, the holder. */
const byAggregator = {
  role: AGGREGATOR_ROLE,
  contract: (f: Fixture) => f.ledger,
  callers: (f: Fixture) => [f.admin, f.operator, f.outsider, f.participants[0]],
  holder: (f: Fixture) => f.aggregator,
  observe: (f: Fixture) => f.ledger.getRound(1),
};

describe("FederationLedger: rounds", function () {
  describe("openRound", function () {
    it("opens round 1 and emits RoundOpened", async function () {
      const { ledger, aggregator } = await networkHelpers.loadFixture(federationFixture);
      const deadline = await deadlineIn(HOUR);
      const base = blobHash("model-0");
      await expect(ledger.connect(aggregator).openRound(1, base, deadline, 3))
        .to.emit(ledger, "RoundOpened")
        .withArgs(1n, base, deadline, 3n);
      expect(await ledger.currentRound()).to.equal(1n);
      const round = await ledger.getRound(1);
      expect(round.status).to.equal(BigInt(RoundStatus.Open));
      expect(round.deadline).to.equal(deadline);
      expect(round.minUpdates).to.equal(3n);
      expect(round.includedCount).to.equal(0n);
      expect(round.quorum).to.equal(0n);
      expect(round.baseModelHash).to.equal(base);
      expect(round.aggregateHash).to.equal(ethers.ZeroHash);
      expect(round.publishedModelHash).to.equal(ethers.ZeroHash);
    });

    shouldRequireRole(load, {
      ...byAggregator,
      fn: "openRound",
      args: async () => [1n, blobHash("m"), await deadlineIn(HOUR), 1n],
    });

    it("requires the next round number", async function () {
      const { ledger, aggregator } = await networkHelpers.loadFixture(federationFixture);
      const deadline = await deadlineIn(HOUR);
      for (const round of [0, 2, 7]) {
        await expect(ledger.connect(aggregator).openRound(round, blobHash("m"), deadline, 1))
          .to.be.revertedWithCustomError(ledger, "LedgerUnexpectedRound")
          .withArgs(1n, BigInt(round));
      }
    });

    it("requires the previous round to be Published or Failed", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m0"), await deadlineIn(HOUR), 1);
      // Open.
      await expect(ledger.connect(aggregator).openRound(2, blobHash("m1"), await deadlineIn(HOUR), 1))
        .to.be.revertedWithCustomError(ledger, "LedgerPreviousRoundPending")
        .withArgs(1n);
      // Closed.
      await ledger.connect(participants[0]).commitUpdate(1, blobHash("u"));
      await ledger.connect(aggregator).closeRound(1, blobHash("a"), [participants[0].address], [], ethers.ZeroHash);
      await expect(ledger.connect(aggregator).openRound(2, blobHash("m1"), await deadlineIn(HOUR), 1))
        .to.be.revertedWithCustomError(ledger, "LedgerPreviousRoundPending")
        .withArgs(1n);
      // Published (quorum of 1 included at 50% is 1).
      await expect(ledger.connect(participants[0]).attestModel(1, blobHash("m1"))).to.emit(ledger, "ModelPublished");
      await expect(ledger.connect(aggregator).openRound(2, blobHash("m1"), await deadlineIn(HOUR), 1))
        .to.emit(ledger, "RoundOpened");
      // Failed.
      await ledger.connect(aggregator).abandonRound(2, "no updates");
      await expect(ledger.connect(aggregator).openRound(3, blobHash("m1"), await deadlineIn(HOUR), 1))
        .to.emit(ledger, "RoundOpened");
      expect(await ledger.currentRound()).to.equal(3n);
    });

    it("requires committed encryption parameters", async function () {
      const { ledger, admin, aggregator } = await networkHelpers.loadFixture(federationFixture);
      const bare = await ethers.deployContract("FederationLedger", [admin.address, REWARD, 5_000]);
      await bare.grantRole(AGGREGATOR_ROLE, aggregator.address);
      await expect(
        bare.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1),
      ).to.be.revertedWithCustomError(ledger, "LedgerParamsNotCommitted");
    });

    it("requires a deadline after the block's timestamp", async function () {
      const { ledger, aggregator } = await networkHelpers.loadFixture(federationFixture);
      const now = await deadlineIn(100n);
      await networkHelpers.time.setNextBlockTimestamp(now);
      await expect(ledger.connect(aggregator).openRound(1, blobHash("m"), now, 1))
        .to.be.revertedWithCustomError(ledger, "LedgerInvalidDeadline")
        .withArgs(now);
      await networkHelpers.time.setNextBlockTimestamp(now + 1n);
      await expect(ledger.connect(aggregator).openRound(1, blobHash("m"), now + 2n, 1)).to.emit(
        ledger,
        "RoundOpened",
      );
    });

    it("requires minUpdates >= 1 and a non-zero base model hash", async function () {
      const { ledger, aggregator } = await networkHelpers.loadFixture(federationFixture);
      const deadline = await deadlineIn(HOUR);
      await expect(
        ledger.connect(aggregator).openRound(1, blobHash("m"), deadline, 0),
      ).to.be.revertedWithCustomError(ledger, "LedgerInvalidMinUpdates");
      await expect(
        ledger.connect(aggregator).openRound(1, ethers.ZeroHash, deadline, 1),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroHash");
    });
  });

  describe("commitUpdate", function () {
    it("stores the commitment and emits UpdateCommitted", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      const [alice, bob] = participants;
      const hash = blobHash("alice's update");
      await expect(ledger.connect(alice).commitUpdate(1, hash))
        .to.emit(ledger, "UpdateCommitted")
        .withArgs(1n, alice.address, hash);
      expect(await ledger.hasCommitted(1, alice.address)).to.equal(true);
      expect(await ledger.hasCommitted(1, bob.address)).to.equal(false);
      expect(await ledger.hasCommitted(2, alice.address)).to.equal(false);
    });

    it("accepts only admitted participants", async function () {
      const { ledger, operator, aggregator, outsider, participants } =
        await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      for (const caller of [outsider, aggregator]) {
        await expect(ledger.connect(caller).commitUpdate(1, blobHash("u")))
          .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
          .withArgs(caller.address);
      }
      await ledger.connect(operator).removeParticipant(participants[1].address);
      await expect(ledger.connect(participants[1]).commitUpdate(1, blobHash("u")))
        .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
        .withArgs(participants[1].address);
    });

    it("requires the round to be Open", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [alice, bob] = participants;
      // Never opened.
      await expect(ledger.connect(alice).commitUpdate(1, blobHash("u")))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotOpen")
        .withArgs(1n);
      // Closed.
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(1, blobHash("u"));
      await ledger.connect(aggregator).closeRound(1, blobHash("a"), [alice.address], [], ethers.ZeroHash);
      await expect(ledger.connect(bob).commitUpdate(1, blobHash("u")))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotOpen")
        .withArgs(1n);
    });

    it("accepts commitments up to and including the deadline, not after", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [alice, bob] = participants;
      const deadline = await deadlineIn(HOUR);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), deadline, 1);

      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await expect(ledger.connect(alice).commitUpdate(1, blobHash("a"))).to.emit(ledger, "UpdateCommitted");

      await networkHelpers.time.setNextBlockTimestamp(deadline + 1n);
      await expect(ledger.connect(bob).commitUpdate(1, blobHash("b")))
        .to.be.revertedWithCustomError(ledger, "LedgerDeadlinePassed")
        .withArgs(1n, deadline);
    });

    it("accepts one commitment per participant per round", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [alice] = participants;
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(1, blobHash("first"));
      await expect(ledger.connect(alice).commitUpdate(1, blobHash("second")))
        .to.be.revertedWithCustomError(ledger, "LedgerAlreadyCommitted")
        .withArgs(1n, alice.address);
      const logged = await ledger.queryFilter(ledger.filters.UpdateCommitted(1n, alice.address));
      expect(logged.map((e) => e.args.updateHash)).to.deep.equal([blobHash("first")]);
    });

    it("stores who committed in the group's latest round; the hashes are in the event log only", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [alice, bob] = participants;
      expect(await ledger.hasCommitted(1, alice.address)).to.equal(false);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(1, blobHash("r1"));
      await ledger.connect(bob).commitUpdate(1, blobHash("b1"));
      await ledger.connect(aggregator).abandonRound(1, "test");
      expect(await ledger.hasCommitted(1, alice.address)).to.equal(true);
      await ledger.connect(aggregator).openRound(2, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(2, blobHash("r2"));
      expect(await ledger.hasCommitted(2, alice.address)).to.equal(true);
      expect(await ledger.hasCommitted(2, bob.address)).to.equal(false);
      // Round 2's first commitment of the group replaced round 1's bits: storage forgets them.
      expect(await ledger.hasCommitted(1, alice.address)).to.equal(false);
      expect(await ledger.hasCommitted(1, bob.address)).to.equal(false);
      expect(await ledger.hasCommitted(0, alice.address)).to.equal(false);
      const logged = await ledger.queryFilter(ledger.filters.UpdateCommitted(undefined, alice.address));
      expect(logged.map((e) => [e.args.round, e.args.updateHash])).to.deep.equal([
        [1n, blobHash("r1")],
        [2n, blobHash("r2")],
      ]);
    });

    it("does not let a removed and re-admitted participant commit twice in a round", async function () {
      const { ledger, operator, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [alice, bob] = participants;
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(1, blobHash("a"));
      await ledger.connect(bob).commitUpdate(1, blobHash("b"));
      await ledger.connect(operator).removeParticipant(alice.address);
      await expect(ledger.connect(alice).commitUpdate(1, blobHash("again")))
        .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
        .withArgs(alice.address);
      // Removal keeps every index: Bob's commitment bit must be intact.
      expect(await ledger.hasCommitted(1, bob.address)).to.equal(true);
      await ledger.connect(operator).admitParticipant(alice.address, await publicKeyOf(alice));
      await expect(ledger.connect(alice).commitUpdate(1, blobHash("again")))
        .to.be.revertedWithCustomError(ledger, "LedgerAlreadyCommitted")
        .withArgs(1n, alice.address);
      expect(await ledger.hasCommitted(1, alice.address)).to.equal(true);
      // Her round-1 update can still be included after re-admission.
      await ledger.connect(aggregator).closeRound(1, blobHash("agg"), sortAddresses([alice, bob]).map((p) => p.address), [], ethers.ZeroHash);
      expect(await ledger.isIncluded(1, alice.address)).to.equal(true);
    });

    it("rejects a zero hash", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await expect(
        ledger.connect(participants[0]).commitUpdate(1, ethers.ZeroHash),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroHash");
    });
  });

  describe("closeRound", function () {
    it("records the aggregate and inclusions, sets the quorum, mints rewards, emits RoundClosed", async function () {
      const { ledger, token, aggregator, participants } = await openAndCommit(4);
      const included = participants.slice(0, 3).map((p) => p.address);
      const aggregate = blobHash("aggregate");

      const tx = ledger.connect(aggregator).closeRound(1, aggregate, included, [], ethers.ZeroHash);
      await expect(tx).to.emit(ledger, "RoundClosed").withArgs(1n, aggregate, included, REWARD, [], ethers.ZeroHash);
      for (const account of included) {
        await expect(tx).to.emit(token, "Transfer").withArgs(ethers.ZeroAddress, account, REWARD);
      }
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        participants.slice(0, 4),
        [REWARD, REWARD, REWARD, 0n],
      );

      const round = await ledger.getRound(1);
      expect(round.status).to.equal(BigInt(RoundStatus.Closed));
      expect(round.aggregateHash).to.equal(aggregate);
      expect(round.includedCount).to.equal(3n);
      expect(round.quorum).to.equal(2n); // ceil(3 * 5000 / 10000)
      expect(round.minUpdates).to.equal(2n);
      expect(round.baseModelHash).to.equal(blobHash("m"));
      for (const p of participants) {
        expect(await ledger.isIncluded(1, p.address)).to.equal(included.includes(p.address));
        expect(await ledger.hasAttested(1, p.address)).to.equal(false);
      }
      expect(await token.totalSupply()).to.equal(3n * REWARD);
    });

    it("rewards with the reward in force at closing time, and mints nothing at zero", async function () {
      const { ledger, token, operator, aggregator, participants } = await openAndCommit(2);
      await ledger.connect(operator).setRewardPerUpdate(0);
      const included = participants.slice(0, 2).map((p) => p.address);
      const tx = ledger.connect(aggregator).closeRound(1, blobHash("a"), included, [], ethers.ZeroHash);
      await expect(tx).to.emit(ledger, "RoundClosed").withArgs(1n, blobHash("a"), included, 0n, [], ethers.ZeroHash);
      await expect(tx).to.not.emit(token, "Transfer");
      expect(await token.totalSupply()).to.equal(0n);
    });

    shouldRequireRole(() => openAndCommit(2), {
      ...byAggregator,
      fn: "closeRound",
      args: (f) => [1n, blobHash("a"), f.participants.slice(0, 2).map((p) => p.address), [], ethers.ZeroHash],
    });

    it("requires the round to be Open", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(2);
      const included = participants.slice(0, 2).map((p) => p.address);
      await expect(ledger.connect(aggregator).closeRound(2, blobHash("a"), included, [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotOpen")
        .withArgs(2n);
      await ledger.connect(aggregator).closeRound(1, blobHash("a"), included, [], ethers.ZeroHash);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("a"), included, [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotOpen")
        .withArgs(1n);
    });

    it("requires at least minUpdates included updates", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(2);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("a"), [participants[0].address], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerTooFewUpdates")
        .withArgs(1n, 1n, 2n);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("a"), [], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerTooFewUpdates")
        .withArgs(1n, 0n, 2n);
    });

    it("requires included to be strictly ascending (no duplicates)", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(3);
      const [a, b, c] = participants.map((p) => p.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [b, a], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerIncludedNotSorted")
        .withArgs(1n);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [a, b, b], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerIncludedNotSorted")
        .withArgs(2n);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [a, c, b], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerIncludedNotSorted")
        .withArgs(2n);
    });

    it("requires a commitment in this round from every included participant", async function () {
      const { ledger, aggregator, outsider, participants } = await openAndCommit(2);
      const [a, b, c] = participants.map((p) => p.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [a, b, c], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerMissingCommitment")
        .withArgs(1n, c);
      const withOutsider = sortAddresses([{ address: a }, { address: outsider.address }]).map((x) => x.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), withOutsider, [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerMissingCommitment")
        .withArgs(1n, outsider.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [ethers.ZeroAddress, a], [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(ledger, "LedgerMissingCommitment")
        .withArgs(1n, ethers.ZeroAddress);
    });

    it("includes a participant removed after committing", async function () {
      const { ledger, operator, aggregator, participants } = await openAndCommit(2);
      await ledger.connect(operator).removeParticipant(participants[1].address);
      const included = participants.slice(0, 2).map((p) => p.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("a"), included, [], ethers.ZeroHash)).to.emit(ledger, "RoundClosed");
      expect(await ledger.isIncluded(1, participants[1].address)).to.equal(true);
    });

    it("can close before the deadline and after it", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(2);
      await networkHelpers.time.increase(2n * HOUR);
      const included = participants.slice(0, 2).map((p) => p.address);
      await expect(ledger.connect(aggregator).closeRound(1, blobHash("a"), included, [], ethers.ZeroHash)).to.emit(ledger, "RoundClosed");
    });

    it("rejects a zero aggregate hash", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(2);
      const included = participants.slice(0, 2).map((p) => p.address);
      await expect(
        ledger.connect(aggregator).closeRound(1, ethers.ZeroHash, included, [], ethers.ZeroHash),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroHash");
    });

    it("records the dropped participants and the corrections hash in RoundClosed only", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(3);
      const [a, b, c, d, e] = participants.map((p) => p.address);
      const corrections = blobHash("revealed seeds");
      const tx = ledger.connect(aggregator).closeRound(1, blobHash("agg"), [a, c], [b, d, e], corrections);
      await expect(tx).to.emit(ledger, "RoundClosed").withArgs(1n, blobHash("agg"), [a, c], REWARD, [b, d, e], corrections);
      // A dropped participant neither needs a commitment nor gets anything.
      for (const dropped of [b, d, e]) expect(await ledger.isIncluded(1, dropped)).to.equal(false);
      expect((await ledger.getRound(1)).includedCount).to.equal(2n);
      // Dropped participants without applied corrections (all their neighbours dropped too).
      const next = await openAndCommit(3);
      await expect(next.ledger.connect(next.aggregator).closeRound(1, blobHash("agg"), [a, c], [b], ethers.ZeroHash))
        .to.emit(next.ledger, "RoundClosed")
        .withArgs(1n, blobHash("agg"), [a, c], REWARD, [b], ethers.ZeroHash);
    });

    it("requires dropped to be strictly ascending and disjoint from included", async function () {
      const { ledger, aggregator, participants } = await openAndCommit(3);
      const [a, b, c, d, e] = participants.map((p) => p.address);
      const corrections = blobHash("seeds");
      for (const [dropped, index] of [
        [[e, d], 1n],
        [[b, d, d], 2n],
      ] as const) {
        await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [a, c], [...dropped], corrections))
          .to.be.revertedWithCustomError(ledger, "LedgerDroppedNotSorted")
          .withArgs(index);
      }
      for (const [dropped, both] of [
        [[a], a],
        [[b, c], c],
        [[b, c, d], c],
      ] as const) {
        await expect(ledger.connect(aggregator).closeRound(1, blobHash("x"), [a, c], [...dropped], corrections))
          .to.be.revertedWithCustomError(ledger, "LedgerDroppedIncluded")
          .withArgs(both);
      }
      expect((await ledger.getRound(1)).status).to.equal(BigInt(RoundStatus.Open));
    });

    it("refuses corrections without a dropped participant, and both when the federation does not mask", async function () {
      const { ledger, operator, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      const [a, b] = participants;
      await expect(ledger.connect(operator).configureMasking(false, 0, 0)).to.emit(ledger, "MaskingConfigured");
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(a).commitUpdate(1, blobHash("u"));
      for (const [dropped, corrections] of [
        [[b.address], ethers.ZeroHash],
        [[], blobHash("seeds")],
      ] as const) {
        await expect(
          ledger.connect(aggregator).closeRound(1, blobHash("x"), [a.address], [...dropped], corrections),
        ).to.be.revertedWithCustomError(ledger, "LedgerMaskingDisabled");
      }
      const masked = await openAndCommit(2);
      const both = masked.participants.slice(0, 2).map((p) => p.address);
      await expect(
        masked.ledger.connect(masked.aggregator).closeRound(1, blobHash("x"), both, [], blobHash("seeds")),
      ).to.be.revertedWithCustomError(masked.ledger, "LedgerUnexpectedCorrections");
    });

    it("accumulates rewards over rounds", async function () {
      const { ledger, token, aggregator, participants } = await openAndCommit(2);
      const [alice, bob] = participants;
      await ledger.connect(aggregator).closeRound(1, blobHash("a1"), [alice.address, bob.address], [], ethers.ZeroHash);
      await ledger.connect(aggregator).abandonRound(1, "no quorum");
      await ledger.connect(aggregator).openRound(2, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(alice).commitUpdate(2, blobHash("u2"));
      await ledger.connect(aggregator).closeRound(2, blobHash("a2"), [alice.address], [], ethers.ZeroHash);
      expect(await token.balanceOf(alice.address)).to.equal(2n * REWARD);
      expect(await token.balanceOf(bob.address)).to.equal(REWARD);
    });
  });

  describe("nonZeroHash", function () {
    it("reports a zero hash before the function's own checks, in every function taking one", async function () {
      const { ledger, aggregator, outsider } = await networkHelpers.loadFixture(federationFixture);
      // Each call also breaks its function's other rules: wrong caller, round or arguments.
      const calls = [
        () => ledger.connect(outsider).commitEncryptionParams(ethers.ZeroHash),
        () => ledger.connect(aggregator).openRound(7, ethers.ZeroHash, 0, 0),
        () => ledger.connect(outsider).commitUpdate(9, ethers.ZeroHash),
        () => ledger.connect(aggregator).closeRound(9, ethers.ZeroHash, [], [], ethers.ZeroHash),
        () => ledger.connect(outsider).attestModel(9, ethers.ZeroHash),
      ];
      for (const call of calls) {
        await expect(call()).to.be.revertedWithCustomError(ledger, "LedgerZeroHash");
      }
    });
  });

  describe("abandonRound", function () {
    it("fails an Open round and emits RoundFailed", async function () {
      const { ledger, aggregator } = await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await expect(ledger.connect(aggregator).abandonRound(1, "deadline passed with too few updates"))
        .to.emit(ledger, "RoundFailed")
        .withArgs(1n, "deadline passed with too few updates");
      expect((await ledger.getRound(1)).status).to.equal(BigInt(RoundStatus.Failed));
    });

    it("fails a Closed round, keeping its rewards", async function () {
      const { ledger, token, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(participants[0]).commitUpdate(1, blobHash("u"));
      await ledger.connect(aggregator).closeRound(1, blobHash("a"), [participants[0].address], [], ethers.ZeroHash);
      await expect(ledger.connect(aggregator).abandonRound(1, "no quorum"))
        .to.emit(ledger, "RoundFailed")
        .withArgs(1n, "no quorum");
      const round = await ledger.getRound(1);
      expect(round.status).to.equal(BigInt(RoundStatus.Failed));
      expect(round.aggregateHash).to.equal(blobHash("a"));
      expect(await token.balanceOf(participants[0].address)).to.equal(REWARD);
    });

    it("rejects a round that is not Open or Closed", async function () {
      const { ledger, aggregator, participants } = await networkHelpers.loadFixture(federationFixture);
      // None.
      await expect(ledger.connect(aggregator).abandonRound(1, "x"))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotAbandonable")
        .withArgs(1n);
      // Published.
      await ledger.connect(aggregator).openRound(1, blobHash("m"), await deadlineIn(HOUR), 1);
      await ledger.connect(participants[0]).commitUpdate(1, blobHash("u"));
      await ledger.connect(aggregator).closeRound(1, blobHash("a"), [participants[0].address], [], ethers.ZeroHash);
      await ledger.connect(participants[0]).attestModel(1, blobHash("m1"));
      await expect(ledger.connect(aggregator).abandonRound(1, "x"))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotAbandonable")
        .withArgs(1n);
      // Failed.
      await ledger.connect(aggregator).openRound(2, blobHash("m1"), await deadlineIn(HOUR), 1);
      await ledger.connect(aggregator).abandonRound(2, "x");
      await expect(ledger.connect(aggregator).abandonRound(2, "again"))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotAbandonable")
        .withArgs(2n);
    });

    shouldRequireRole(() => openAndCommit(0), { ...byAggregator, fn: "abandonRound", args: () => [1n, "x"] });
  });
});
