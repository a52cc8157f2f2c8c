import { expect } from "chai";
import { network } from "hardhat";

import { AGGREGATOR_ROLE, OPERATOR_ROLE, REWARD, RoundStatus, blobHash, publicKeyOf, sortAddresses } from "./helpers.js";

const { ethers, networkHelpers } = await network.create();

type Signer = Awaited<ReturnType<typeof ethers.getSigners>>[number];

/**
 * Deploys a ledger with `quorumBps`, admits `admitted` participants (sorted), opens round 1,
 * has all of them commit, and closes it including the first `included`.
 */
async function closedRound(quorumBps: number, admitted: number, included: number) {
  const [admin, operator, aggregator, outsider, ...rest] = await ethers.getSigners();
  const participants = sortAddresses(rest.slice(0, admitted));
  const ledger = await ethers.deployContract("FederationLedger", [admin.address, REWARD, quorumBps]);
  await ledger.grantRole(OPERATOR_ROLE, operator.address);
  await ledger.grantRole(AGGREGATOR_ROLE, aggregator.address);
  for (const p of participants) {
    await ledger.connect(operator).admitParticipant(p.address, await publicKeyOf(p));
  }
  await ledger.connect(operator).appointKeyDealer(participants[0].address);
  await ledger.connect(participants[0]).commitEncryptionParams(blobHash("params"));
  const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
  await ledger.connect(aggregator).openRound(1, blobHash("model-0"), deadline, 1);
  for (const p of participants) {
    await ledger.connect(p).commitUpdate(1, blobHash(`update ${p.address}`));
  }
  const includedSigners = participants.slice(0, included);
  await ledger.connect(aggregator).closeRound(1, blobHash("aggregate"), includedSigners.map((p) => p.address), [], ethers.ZeroHash);
  return { ledger, aggregator, outsider, participants, included: includedSigners };
}

/** Quorum 50%; seven admitted participants; round 1 closed with the first four: quorum 2. */
async function closedRoundFixture() {
  return closedRound(5_000, 7, 4);
}

const MODEL_A = blobHash("model A");
const MODEL_B = blobHash("model B");

describe("FederationLedger: attestations and publication", function () {
  describe("attestModel", function () {
    it("counts attestations and publishes the model at the quorum", async function () {
      const { ledger, included } = await networkHelpers.loadFixture(closedRoundFixture);
      const [a, b, c] = included;

      await expect(ledger.connect(a).attestModel(1, MODEL_A))
        .to.emit(ledger, "ModelAttested")
        .withArgs(1n, a.address, MODEL_A);
      expect(await ledger.attestationCount(1, MODEL_A)).to.equal(1n);
      expect((await ledger.getRound(1)).status).to.equal(BigInt(RoundStatus.Closed));
      expect(await ledger.hasAttested(1, a.address)).to.equal(true);
      expect(await ledger.hasAttested(1, b.address)).to.equal(false);
      expect(await ledger.isIncluded(1, a.address)).to.equal(true);

      const tx = ledger.connect(b).attestModel(1, MODEL_A);
      await expect(tx).to.emit(ledger, "ModelAttested").withArgs(1n, b.address, MODEL_A);
      await expect(tx).to.emit(ledger, "ModelPublished").withArgs(1n, MODEL_A, 2n);

      const round = await ledger.getRound(1);
      expect(round.status).to.equal(BigInt(RoundStatus.Published));
      expect(round.publishedModelHash).to.equal(MODEL_A);
      expect(await ledger.attestationCount(1, MODEL_A)).to.equal(2n);

      // After publication attestations are still recorded, and never re-publish.
      const late = ledger.connect(c).attestModel(1, MODEL_A);
      await expect(late).to.emit(ledger, "ModelAttested").withArgs(1n, c.address, MODEL_A);
      await expect(late).to.not.emit(ledger, "ModelPublished");
      expect(await ledger.attestationCount(1, MODEL_A)).to.equal(3n);
    });

    it("keeps a dissenting hash visible and publishes only the hash that reaches the quorum", async function () {
      const { ledger, included } = await networkHelpers.loadFixture(closedRoundFixture);
      const [a, b, c, d] = included;
      await expect(ledger.connect(a).attestModel(1, MODEL_A)).to.not.emit(ledger, "ModelPublished");
      await expect(ledger.connect(b).attestModel(1, MODEL_B)).to.not.emit(ledger, "ModelPublished");
      await expect(ledger.connect(c).attestModel(1, MODEL_B))
        .to.emit(ledger, "ModelPublished")
        .withArgs(1n, MODEL_B, 2n);
      // A second hash reaching the quorum later does not replace the published one.
      const tx = ledger.connect(d).attestModel(1, MODEL_A);
      await expect(tx).to.emit(ledger, "ModelAttested").withArgs(1n, d.address, MODEL_A);
      await expect(tx).to.not.emit(ledger, "ModelPublished");

      expect((await ledger.getRound(1)).publishedModelHash).to.equal(MODEL_B);
      expect(await ledger.attestationCount(1, MODEL_A)).to.equal(2n);
      expect(await ledger.attestationCount(1, MODEL_B)).to.equal(2n);
    });

    it("does not publish when the attestations split below the quorum", async function () {
      // 2/3 quorum of 3 included is 3: any dissent blocks publication.
      const { ledger, aggregator, included } = await closedRound(6_667, 3, 3);
      expect((await ledger.getRound(1)).quorum).to.equal(3n);
      await ledger.connect(included[0]).attestModel(1, MODEL_A);
      await ledger.connect(included[1]).attestModel(1, MODEL_A);
      await expect(ledger.connect(included[2]).attestModel(1, MODEL_B)).to.not.emit(ledger, "ModelPublished");
      const round = await ledger.getRound(1);
      expect(round.status).to.equal(BigInt(RoundStatus.Closed));
      expect(round.publishedModelHash).to.equal(ethers.ZeroHash);
      // The aggregator can then give the round up and move on.
      await expect(ledger.connect(aggregator).abandonRound(1, "no quorum")).to.emit(ledger, "RoundFailed");
    });

    it("accepts only participants included in the round", async function () {
      const { ledger, outsider, participants } = await networkHelpers.loadFixture(closedRoundFixture);
      const committedNotIncluded = participants[5];
      for (const caller of [outsider, committedNotIncluded]) {
        await expect(ledger.connect(caller).attestModel(1, MODEL_A))
          .to.be.revertedWithCustomError(ledger, "LedgerNotIncluded")
          .withArgs(1n, caller.address);
      }
      // A round that is not Closed is refused as such before inclusion is looked at.
      await expect(ledger.connect(participants[0]).attestModel(2, MODEL_A))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotClosed")
        .withArgs(2n);
    });

    it("requires the round to be Closed or Published", async function () {
      const { ledger, aggregator, included } = await networkHelpers.loadFixture(closedRoundFixture);
      await ledger.connect(aggregator).abandonRound(1, "aggregate lost");
      await expect(ledger.connect(included[0]).attestModel(1, MODEL_A))
        .to.be.revertedWithCustomError(ledger, "LedgerRoundNotClosed")
        .withArgs(1n);
    });

    it("accepts one attestation per participant per round, before and after publication", async function () {
      const { ledger, included } = await networkHelpers.loadFixture(closedRoundFixture);
      const [a, b] = included;
      await ledger.connect(a).attestModel(1, MODEL_A);
      for (const hash of [MODEL_A, MODEL_B]) {
        await expect(ledger.connect(a).attestModel(1, hash))
          .to.be.revertedWithCustomError(ledger, "LedgerAlreadyAttested")
          .withArgs(1n, a.address);
      }
      await ledger.connect(b).attestModel(1, MODEL_A); // publishes
      await expect(ledger.connect(b).attestModel(1, MODEL_A))
        .to.be.revertedWithCustomError(ledger, "LedgerAlreadyAttested")
        .withArgs(1n, b.address);
    });

    it("rejects a zero hash", async function () {
      const { ledger, included } = await networkHelpers.loadFixture(closedRoundFixture);
      await expect(ledger.connect(included[0]).attestModel(1, ethers.ZeroHash)).to.be.revertedWithCustomError(
        ledger,
        "LedgerZeroHash",
      );
    });

    it("attests across rounds independently", async function () {
      const { ledger, aggregator, included } = await networkHelpers.loadFixture(closedRoundFixture);
      const [a, b] = included;
      await ledger.connect(a).attestModel(1, MODEL_A);
      await ledger.connect(b).attestModel(1, MODEL_A);
      const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
      await ledger.connect(aggregator).openRound(2, MODEL_A, deadline, 1);
      await ledger.connect(a).commitUpdate(2, blobHash("a2"));
      await ledger.connect(aggregator).closeRound(2, blobHash("agg2"), [a.address], [], ethers.ZeroHash);
      expect((await ledger.getRound(2)).quorum).to.equal(1n);
      expect(await ledger.hasAttested(2, a.address)).to.equal(false);
      await expect(ledger.connect(a).attestModel(2, MODEL_B)).to.emit(ledger, "ModelPublished").withArgs(2n, MODEL_B, 1n);
      expect(await ledger.attestationCount(2, MODEL_A)).to.equal(0n);
      expect((await ledger.getRound(1)).publishedModelHash).to.equal(MODEL_A);
    });
  });

  describe("quorum rule: max(1, ceil(included * quorumBps / 10000))", function () {
    const cases: Array<[bps: number, included: number, quorum: number]> = [
      [1, 1, 1],
      [1, 7, 1], // ceil(0.0007) = 1
      [5_000, 1, 1],
      [5_000, 3, 2], // ceil(1.5)
      [5_000, 4, 2], // exact
      [6_666, 6, 4], // ceil(3.9996)
      [6_667, 6, 5], // ceil(4.0002)
      [6_667, 3, 3], // ceil(2.0001)
      [10_000, 7, 7],
    ];
    for (const [bps, included, quorum] of cases) {
      it(`${included} included at ${bps} bps need ${quorum} matching attestations`, async function () {
        const { ledger, included: signers } = await closedRound(bps, included, included);
        expect((await ledger.getRound(1)).quorum).to.equal(BigInt(quorum));
        expect((await ledger.getRound(1)).includedCount).to.equal(BigInt(included));
        for (const [i, signer] of signers.slice(0, quorum).entries()) {
          const tx = ledger.connect(signer as Signer).attestModel(1, MODEL_A);
          if (i + 1 < quorum) {
            await expect(tx).to.not.emit(ledger, "ModelPublished");
          } else {
            await expect(tx).to.emit(ledger, "ModelPublished").withArgs(1n, MODEL_A, BigInt(quorum));
          }
        }
      });
    }
  });
});
