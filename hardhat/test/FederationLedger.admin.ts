import { expect } from "chai";
import { network } from "hardhat";

import {
  AGGREGATOR_ROLE,
  AUDITOR_ROLE,
  DEFAULT_ADMIN_ROLE,
  OPERATOR_ROLE,
  RELAYER_ROLE,
  REWARD,
  blobHash,
  publicKeyOf,
  shouldRequireRole,
} from "./helpers.js";

const { ethers, networkHelpers } = await network.create();

/** A fresh ledger with an operator; nobody admitted yet. */
async function ledgerFixture() {
  const [admin, operator, aggregator, outsider, alice, bob, carol] = await ethers.getSigners();
  const ledger = await ethers.deployContract("FederationLedger", [admin.address, REWARD, 6_667]);
  await ledger.grantRole(OPERATOR_ROLE, operator.address);
  await ledger.grantRole(AGGREGATOR_ROLE, aggregator.address);
  const keys = {
    alice: await publicKeyOf(alice),
    bob: await publicKeyOf(bob),
    carol: await publicKeyOf(carol),
  };
  return { ledger, admin, operator, aggregator, outsider, alice, bob, carol, keys };
}

type Fixture = Awaited<ReturnType<typeof ledgerFixture>>;

const load = () => networkHelpers.loadFixture(ledgerFixture);

/** The fixture with Alice admitted. */
async function withAlice(): Promise<Fixture> {
  const fixture = await load();
  await fixture.ledger.connect(fixture.operator).admitParticipant(fixture.alice.address, fixture.keys.alice);
  return fixture;
}

/** What every OPERATOR_ROLE-gated call shares: the contract, the refused callers, the holder. */
const byOperator = {
  role: OPERATOR_ROLE,
  contract: (f: Fixture) => f.ledger,
  callers: (f: Fixture) => [f.admin, f.aggregator, f.outsider],
  holder: (f: Fixture) => f.operator,
};

describe("FederationLedger: set-up, participants, encryption parameters, reward", function () {
  describe("constructor", function () {
    it("grants DEFAULT_ADMIN_ROLE to the admin and no other role", async function () {
      const { ledger, admin } = await networkHelpers.loadFixture(ledgerFixture);
      expect(await ledger.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(true);
      for (const role of [OPERATOR_ROLE, AGGREGATOR_ROLE, RELAYER_ROLE, AUDITOR_ROLE]) {
        expect(await ledger.hasRole(role, admin.address)).to.equal(false);
      }
    });

    it("exposes the role identifiers", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      expect(await ledger.OPERATOR_ROLE()).to.equal(OPERATOR_ROLE);
      expect(await ledger.AGGREGATOR_ROLE()).to.equal(AGGREGATOR_ROLE);
      expect(await ledger.RELAYER_ROLE()).to.equal(RELAYER_ROLE);
      expect(await ledger.AUDITOR_ROLE()).to.equal(AUDITOR_ROLE);
    });

    it("exposes its EIP-712 domain and message type hashes", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      const domain = await ledger.eip712Domain();
      expect(domain.name).to.equal("FederationLedger");
      expect(domain.version).to.equal("1");
      expect(domain.chainId).to.equal((await ethers.provider.getNetwork()).chainId);
      expect(domain.verifyingContract).to.equal(await ledger.getAddress());
      expect(await ledger.UPDATE_COMMITMENT_TYPEHASH()).to.equal(ethers.id("UpdateCommitment(uint64 round,bytes32 updateHash)"));
      expect(await ledger.MODEL_ATTESTATION_TYPEHASH()).to.equal(ethers.id("ModelAttestation(uint64 round,bytes32 modelHash)"));
      expect(await ledger.ENCRYPTION_PARAMS_TYPEHASH()).to.equal(ethers.id("EncryptionParams(bytes32 paramsHash)"));
    });

    it("records the reward and quorum rule and starts empty", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      expect(await ledger.rewardPerUpdate()).to.equal(REWARD);
      expect(await ledger.quorumBps()).to.equal(6_667n);
      expect(await ledger.keyDealer()).to.equal(ethers.ZeroAddress);
      expect(await ledger.encryptionParamsHash()).to.equal(ethers.ZeroHash);
      expect(await ledger.participantCount()).to.equal(0n);
      expect(await ledger.participants()).to.deep.equal([]);
      expect(await ledger.currentRound()).to.equal(0n);
      const round = await ledger.getRound(1);
      expect(round.status).to.equal(0n);
      expect(round.baseModelHash).to.equal(ethers.ZeroHash);
    });

    it("creates a token whose code is deployed", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      const token = await ledger.token();
      expect(await ethers.provider.getCode(token)).to.not.equal("0x");
    });

    it("rejects a quorum of 0 or above 10000 basis points", async function () {
      const { ledger, admin } = await networkHelpers.loadFixture(ledgerFixture);
      for (const bps of [0, 10_001, 65_535]) {
        await expect(ethers.deployContract("FederationLedger", [admin.address, REWARD, bps]))
          .to.be.revertedWithCustomError(ledger, "LedgerInvalidQuorum")
          .withArgs(bps);
      }
      for (const bps of [1, 10_000]) {
        const ok = await ethers.deployContract("FederationLedger", [admin.address, REWARD, bps]);
        expect(await ok.quorumBps()).to.equal(BigInt(bps));
      }
    });

    it("rejects a zero admin", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(
        ethers.deployContract("FederationLedger", [ethers.ZeroAddress, REWARD, 5_000]),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroAddress");
    });
  });

  describe("admitParticipant", function () {
    it("admits, emits the public key in ParticipantAdmitted and records the block", async function () {
      const { ledger, operator, alice, bob, keys } = await networkHelpers.loadFixture(ledgerFixture);
      expect(await ledger.admissionBlock(alice.address)).to.equal(0n);
      const tx = ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await expect(tx).to.emit(ledger, "ParticipantAdmitted").withArgs(alice.address, keys.alice);
      const block = (await (await tx).wait())!.blockNumber;
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);

      expect(await ledger.isParticipant(alice.address)).to.equal(true);
      expect(await ledger.isParticipant(bob.address)).to.equal(true);
      expect(await ledger.participantCount()).to.equal(2n);
      expect(await ledger.participants()).to.deep.equal([alice.address, bob.address]);
      // The key is not stored: its admission block's event is where readers find it.
      expect(await ledger.admissionBlock(alice.address)).to.equal(BigInt(block));
      const [admitted] = await ledger.queryFilter(ledger.filters.ParticipantAdmitted(alice.address), block, block);
      expect(admitted.args.publicKey).to.equal(keys.alice);
    });

    shouldRequireRole(load, {
      ...byOperator,
      fn: "admitParticipant",
      args: (f) => [f.alice.address, f.keys.alice],
    });

    it("rejects the zero address", async function () {
      const { ledger, operator, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(
        ledger.connect(operator).admitParticipant(ethers.ZeroAddress, keys.alice),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroAddress");
    });

    it("rejects a key of another account, a 65-byte key and a truncated key", async function () {
      const { ledger, operator, alice, keys } = await networkHelpers.loadFixture(ledgerFixture);
      const badKeys = [
        keys.bob,
        ethers.concat(["0x04", keys.alice]),
        ethers.dataSlice(keys.alice, 0, 63),
        "0x",
      ];
      for (const key of badKeys) {
        await expect(ledger.connect(operator).admitParticipant(alice.address, key))
          .to.be.revertedWithCustomError(ledger, "LedgerInvalidPublicKey")
          .withArgs(alice.address);
      }
    });

    it("rejects an admitted participant", async function () {
      const { ledger, operator, alice, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await expect(ledger.connect(operator).admitParticipant(alice.address, keys.alice))
        .to.be.revertedWithCustomError(ledger, "LedgerAlreadyAdmitted")
        .withArgs(alice.address);
    });
  });

  describe("admitParticipants", function () {
    it("admits a batch in order, as admitParticipant does each", async function () {
      const { ledger, operator, alice, bob, carol, keys } = await networkHelpers.loadFixture(ledgerFixture);
      const accounts = [carol.address, alice.address, bob.address];
      const tx = ledger.connect(operator).admitParticipants(accounts, [keys.carol, keys.alice, keys.bob]);
      for (const [account, key] of [
        [carol.address, keys.carol],
        [alice.address, keys.alice],
        [bob.address, keys.bob],
      ]) {
        await expect(tx).to.emit(ledger, "ParticipantAdmitted").withArgs(account, key);
      }
      const block = BigInt((await (await tx).wait())!.blockNumber);
      expect(await ledger.participants()).to.deep.equal(accounts);
      expect(await ledger.participantCount()).to.equal(3n);
      for (const account of accounts) expect(await ledger.admissionBlock(account)).to.equal(block);
    });

    it("admits all or none: one bad pair reverts the batch with its error", async function () {
      const { ledger, operator, alice, bob, carol, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(
        ledger.connect(operator).admitParticipants([alice.address, bob.address, carol.address], [keys.alice, keys.carol, keys.carol]),
      )
        .to.be.revertedWithCustomError(ledger, "LedgerInvalidPublicKey")
        .withArgs(bob.address);
      await expect(ledger.connect(operator).admitParticipants([alice.address, alice.address], [keys.alice, keys.alice]))
        .to.be.revertedWithCustomError(ledger, "LedgerAlreadyAdmitted")
        .withArgs(alice.address);
      await expect(ledger.connect(operator).admitParticipants([ethers.ZeroAddress], [keys.alice])).to.be.revertedWithCustomError(
        ledger,
        "LedgerZeroAddress",
      );
      expect(await ledger.participants()).to.deep.equal([]);
      expect(await ledger.admissionBlock(alice.address)).to.equal(0n);
    });

    it("rejects arrays of different lengths and an empty batch", async function () {
      const { ledger, operator, alice, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(ledger.connect(operator).admitParticipants([alice.address], [keys.alice, keys.bob]))
        .to.be.revertedWithCustomError(ledger, "LedgerLengthMismatch")
        .withArgs(1n, 2n);
      await expect(ledger.connect(operator).admitParticipants([], [])).to.be.revertedWithCustomError(
        ledger,
        "LedgerEmptyBatch",
      );
    });

    shouldRequireRole(load, {
      ...byOperator,
      fn: "admitParticipants",
      args: (f) => [[f.alice.address, f.bob.address], [f.keys.alice, f.keys.bob]],
    });
  });

  describe("configureMasking", function () {
    it("starts enabled with all pairs up to 32 participants and the default degree", async function () {
      const { ledger } = await networkHelpers.loadFixture(ledgerFixture);
      expect(await ledger.masking()).to.deep.equal([true, 32n, 0n]);
      const [configured] = await ledger.queryFilter(ledger.filters.MaskingConfigured());
      const { enabled, completeUpTo, degree } = configured.args;
      expect([enabled, completeUpTo, degree]).to.deep.equal([true, 32n, 0n]);
    });

    it("sets the rule and emits MaskingConfigured until a round opens", async function () {
      const { ledger, operator, aggregator, alice, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(ledger.connect(operator).configureMasking(true, 16, 12))
        .to.emit(ledger, "MaskingConfigured")
        .withArgs(true, 16n, 12n);
      expect(await ledger.masking()).to.deep.equal([true, 16n, 12n]);
      await expect(ledger.connect(operator).configureMasking(false, 0, 0))
        .to.emit(ledger, "MaskingConfigured")
        .withArgs(false, 0n, 0n);
      expect(await ledger.masking()).to.deep.equal([false, 0n, 0n]);

      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).appointKeyDealer(alice.address);
      await ledger.connect(alice).commitEncryptionParams(blobHash("params"));
      const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
      await ledger.connect(aggregator).openRound(1, blobHash("m"), deadline, 1);
      await expect(ledger.connect(operator).configureMasking(true, 32, 0)).to.be.revertedWithCustomError(
        ledger,
        "LedgerMaskingFixed",
      );
      expect(await ledger.masking()).to.deep.equal([false, 0n, 0n]);
    });

    it("refuses an enabled rule no neighbour graph can follow", async function () {
      const { ledger, operator } = await networkHelpers.loadFixture(ledgerFixture);
      for (const [completeUpTo, degree] of [
        [0, 0],
        [32, 1],
        [32, 3],
        [8, 7],
      ]) {
        await expect(ledger.connect(operator).configureMasking(true, completeUpTo, degree))
          .to.be.revertedWithCustomError(ledger, "LedgerInvalidMasking")
          .withArgs(BigInt(completeUpTo), BigInt(degree));
      }
      // Disabled, the numbers mean nothing and are not checked; the smallest rules pass.
      await ledger.connect(operator).configureMasking(false, 0, 1);
      await ledger.connect(operator).configureMasking(true, 1, 2);
      expect(await ledger.masking()).to.deep.equal([true, 1n, 2n]);
    });

    shouldRequireRole(load, { ...byOperator, fn: "configureMasking", args: () => [true, 8, 4] });
  });

  describe("removeParticipant", function () {
    it("removes, emits ParticipantRemoved and allows re-admission", async function () {
      const { ledger, operator, alice, bob, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);

      await expect(ledger.connect(operator).removeParticipant(alice.address))
        .to.emit(ledger, "ParticipantRemoved")
        .withArgs(alice.address);
      expect(await ledger.isParticipant(alice.address)).to.equal(false);
      expect(await ledger.admissionBlock(alice.address)).to.equal(0n);
      expect(await ledger.participantCount()).to.equal(1n);
      expect(await ledger.participants()).to.deep.equal([bob.address]);

      const readmitted = ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await expect(readmitted).to.emit(ledger, "ParticipantAdmitted").withArgs(alice.address, keys.alice);
      expect(await ledger.isParticipant(alice.address)).to.equal(true);
      expect(await ledger.admissionBlock(alice.address)).to.equal(BigInt((await (await readmitted).wait())!.blockNumber));
      // Alice keeps her place (her stable index): first-admission order.
      expect(await ledger.participants()).to.deep.equal([alice.address, bob.address]);
    });

    it("keeps the participant list in first-admission order through removals from the middle and the end", async function () {
      const { ledger, operator, alice, bob, carol, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);
      await ledger.connect(operator).admitParticipant(carol.address, keys.carol);

      await ledger.connect(operator).removeParticipant(bob.address);
      expect(await ledger.participants()).to.deep.equal([alice.address, carol.address]);
      expect(await ledger.participantCount()).to.equal(2n);

      await ledger.connect(operator).removeParticipant(carol.address);
      expect(await ledger.participants()).to.deep.equal([alice.address]);
      expect(await ledger.isParticipant(carol.address)).to.equal(false);
      expect(await ledger.isParticipant(alice.address)).to.equal(true);

      await ledger.connect(operator).removeParticipant(alice.address);
      expect(await ledger.participants()).to.deep.equal([]);
      expect(await ledger.participantCount()).to.equal(0n);
      for (const account of [alice, bob, carol]) {
        expect(await ledger.isParticipant(account.address)).to.equal(false);
        await expect(ledger.connect(operator).removeParticipant(account.address))
          .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
          .withArgs(account.address);
      }
      await ledger.connect(operator).admitParticipant(carol.address, keys.carol);
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);
      expect(await ledger.participants()).to.deep.equal([bob.address, carol.address]);
    });

    shouldRequireRole(withAlice, { ...byOperator, fn: "removeParticipant", args: (f) => [f.alice.address] });

    it("rejects an account that is not admitted", async function () {
      const { ledger, operator, alice } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(ledger.connect(operator).removeParticipant(alice.address))
        .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
        .withArgs(alice.address);
    });
  });

  describe("appointKeyDealer and commitEncryptionParams", function () {
    it("appoints a participant, which then commits the parameters hash once", async function () {
      const { ledger, operator, alice, bob, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);

      await expect(ledger.connect(operator).appointKeyDealer(alice.address))
        .to.emit(ledger, "KeyDealerAppointed")
        .withArgs(alice.address);
      // The dealer can be changed until the parameters are committed.
      await expect(ledger.connect(operator).appointKeyDealer(bob.address))
        .to.emit(ledger, "KeyDealerAppointed")
        .withArgs(bob.address);
      expect(await ledger.keyDealer()).to.equal(bob.address);

      const paramsHash = blobHash("ckks public parameters");
      await expect(ledger.connect(bob).commitEncryptionParams(paramsHash))
        .to.emit(ledger, "EncryptionParamsCommitted")
        .withArgs(bob.address, paramsHash);
      expect(await ledger.encryptionParamsHash()).to.equal(paramsHash);

      await expect(ledger.connect(bob).commitEncryptionParams(blobHash("other")))
        .to.be.revertedWithCustomError(ledger, "LedgerParamsAlreadyCommitted");
      await expect(ledger.connect(operator).appointKeyDealer(alice.address))
        .to.be.revertedWithCustomError(ledger, "LedgerParamsAlreadyCommitted");
    });

    shouldRequireRole(withAlice, { ...byOperator, fn: "appointKeyDealer", args: (f) => [f.alice.address] });

    it("appointKeyDealer rejects an account that is not admitted", async function () {
      const { ledger, operator, outsider } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(ledger.connect(operator).appointKeyDealer(outsider.address))
        .to.be.revertedWithCustomError(ledger, "LedgerNotParticipant")
        .withArgs(outsider.address);
    });

    it("commitEncryptionParams accepts only the key dealer", async function () {
      const { ledger, operator, alice, bob, keys } = await networkHelpers.loadFixture(ledgerFixture);
      // No dealer yet: nobody can commit.
      await expect(ledger.connect(alice).commitEncryptionParams(blobHash("p")))
        .to.be.revertedWithCustomError(ledger, "LedgerNotKeyDealer")
        .withArgs(alice.address);

      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).admitParticipant(bob.address, keys.bob);
      await ledger.connect(operator).appointKeyDealer(alice.address);
      for (const caller of [bob, operator]) {
        await expect(ledger.connect(caller).commitEncryptionParams(blobHash("p")))
          .to.be.revertedWithCustomError(ledger, "LedgerNotKeyDealer")
          .withArgs(caller.address);
      }
    });

    it("commitEncryptionParams rejects a zero hash", async function () {
      const { ledger, operator, alice, keys } = await networkHelpers.loadFixture(ledgerFixture);
      await ledger.connect(operator).admitParticipant(alice.address, keys.alice);
      await ledger.connect(operator).appointKeyDealer(alice.address);
      await expect(
        ledger.connect(alice).commitEncryptionParams(ethers.ZeroHash),
      ).to.be.revertedWithCustomError(ledger, "LedgerZeroHash");
    });
  });

  describe("setRewardPerUpdate", function () {
    it("changes the reward and emits RewardPerUpdateChanged", async function () {
      const { ledger, operator } = await networkHelpers.loadFixture(ledgerFixture);
      const next = ethers.parseEther("2.5");
      await expect(ledger.connect(operator).setRewardPerUpdate(next))
        .to.emit(ledger, "RewardPerUpdateChanged")
        .withArgs(REWARD, next);
      expect(await ledger.rewardPerUpdate()).to.equal(next);
      await expect(ledger.connect(operator).setRewardPerUpdate(0))
        .to.emit(ledger, "RewardPerUpdateChanged")
        .withArgs(next, 0n);
    });

    shouldRequireRole(load, { ...byOperator, fn: "setRewardPerUpdate", args: () => [1n] });
  });

  describe("roles", function () {
    it("lets the admin grant and revoke AUDITOR_ROLE", async function () {
      const { ledger, admin, outsider } = await networkHelpers.loadFixture(ledgerFixture);
      await expect(ledger.connect(admin).grantRole(AUDITOR_ROLE, outsider.address))
        .to.emit(ledger, "RoleGranted")
        .withArgs(AUDITOR_ROLE, outsider.address, admin.address);
      expect(await ledger.hasRole(AUDITOR_ROLE, outsider.address)).to.equal(true);
      await expect(ledger.connect(admin).revokeRole(AUDITOR_ROLE, outsider.address))
        .to.emit(ledger, "RoleRevoked")
        .withArgs(AUDITOR_ROLE, outsider.address, admin.address);
      expect(await ledger.hasRole(AUDITOR_ROLE, outsider.address)).to.equal(false);
    });

    const byAdmin = {
      role: DEFAULT_ADMIN_ROLE,
      contract: (f: Fixture) => f.ledger,
      callers: (f: Fixture) => [f.operator, f.aggregator, f.outsider],
      holder: (f: Fixture) => f.admin,
      args: (f: Fixture) => [AUDITOR_ROLE, f.outsider.address],
      observe: (f: Fixture) => f.ledger.hasRole(AUDITOR_ROLE, f.outsider.address),
    };
    shouldRequireRole(load, { ...byAdmin, fn: "grantRole" });
    shouldRequireRole(
      async () => {
        const fixture = await load();
        await fixture.ledger.connect(fixture.admin).grantRole(AUDITOR_ROLE, fixture.outsider.address);
        return fixture;
      },
      { ...byAdmin, fn: "revokeRole" },
    );
  });
});
