import { expect } from "chai";
import { type ContractTransactionResponse, TypedDataEncoder, ethers as ethersLib } from "ethers";
import { network } from "hardhat";

import {
  AGGREGATOR_ROLE,
  OPERATOR_ROLE,
  RELAYER_ROLE,
  REWARD,
  TYPES,
  type SignedItem,
  blobHash,
  domainOf,
  publicKeyOf,
  shouldRequireRole,
  signItem,
  sortAddresses,
} from "./helpers.js";

const { ethers, networkHelpers } = await network.create();

const HOUR = 3_600n;
const PARAMS = blobHash("ckks public parameters");

/**
 * Five admitted participants holding no ether (random wallets, admitted in one batch), a
 * stranger that was never admitted, the first participant appointed key dealer, and a relayer
 * that is neither operator nor aggregator. Parameters not committed, no round yet.
 */
async function relayFixture() {
  const [admin, operator, aggregator, relayer, outsider] = await ethers.getSigners();
  const participants = sortAddresses(Array.from({ length: 5 }, () => ethersLib.Wallet.createRandom()));
  const stranger = ethersLib.Wallet.createRandom();
  const ledger = await ethers.deployContract("FederationLedger", [admin.address, REWARD, 5_000]);
  const token = await ethers.getContractAt("ContributionToken", await ledger.token());
  await ledger.grantRole(OPERATOR_ROLE, operator.address);
  await ledger.grantRole(AGGREGATOR_ROLE, aggregator.address);
  await ledger.grantRole(RELAYER_ROLE, relayer.address);
  const keys = await Promise.all(participants.map((p) => publicKeyOf(p)));
  await ledger.connect(operator).admitParticipants(
    participants.map((p) => p.address),
    keys,
  );
  await ledger.connect(operator).appointKeyDealer(participants[0].address);
  // Another deployment, for signatures made for another ledger.
  const other = await ethers.deployContract("FederationLedger", [admin.address, REWARD, 5_000]);
  const domain = await domainOf(ledger);
  return { ledger, token, other, admin, operator, aggregator, relayer, outsider, participants, stranger, domain };
}

type Fixture = Awaited<ReturnType<typeof relayFixture>>;

/** The key dealer's EIP-712 signature of `EncryptionParams(paramsHash)` (65 bytes). */
async function signParams(f: Fixture, paramsHash: string, domain = f.domain, signer = f.participants[0]) {
  return signer.signTypedData(domain, TYPES.EncryptionParams, { paramsHash });
}

/** The fixture with the parameters relayed and round 1 open (one update needed). */
async function openRound(): Promise<Fixture> {
  const f = await networkHelpers.loadFixture(relayFixture);
  await f.ledger.connect(f.relayer).relayEncryptionParams(PARAMS, await signParams(f, PARAMS));
  const deadline = BigInt(await networkHelpers.time.latest()) + HOUR;
  await f.ledger.connect(f.aggregator).openRound(1, blobHash("model-0"), deadline, 1);
  return f;
}

/** The update hash participant `p` commits in `round`. */
function updateOf(p: { address: string }, round = 1): string {
  return blobHash(`update ${round} ${p.address}`);
}

/** Every participant's signed commitment of round 1, in order. */
async function commitments(f: Fixture, round = 1): Promise<SignedItem[]> {
  return Promise.all(f.participants.map((p) => signItem("UpdateCommitment", f.domain, p, round, updateOf(p, round))));
}

/** Round 1 with every participant's commitment relayed, closed including the first four (quorum 2). */
async function closedRound(): Promise<Fixture> {
  const f = await openRound();
  await f.ledger.connect(f.relayer).relayCommitments(1, await commitments(f));
  const included = f.participants.slice(0, 4).map((p) => p.address);
  await f.ledger.connect(f.aggregator).closeRound(1, blobHash("aggregate"), included, [], ethers.ZeroHash);
  return f;
}

/** The named events a mined transaction emitted, as plain argument arrays. */
async function eventsOf(f: Fixture, tx: Promise<ContractTransactionResponse>, name: string): Promise<unknown[][]> {
  return (await logsOf(f, tx)).filter(([event]) => event === name).map(([, ...args]) => args);
}

/** Every event a mined transaction emitted, in order, as `[name, ...arguments]`. */
async function logsOf(f: Fixture, tx: Promise<ContractTransactionResponse>): Promise<unknown[][]> {
  const receipt = (await (await tx).wait())!;
  return receipt.logs.map((log) => {
    const parsed = f.ledger.interface.parseLog(log)!;
    return [parsed.name, ...parsed.args.toArray(true)];
  });
}

/** The single events a batch event stands for (as the Python readers expand it), others as they are. */
function expanded(logs: unknown[][]): unknown[][] {
  const single: Record<string, string> = { UpdatesCommitted: "UpdateCommitted", ModelsAttested: "ModelAttested" };
  return logs.flatMap(([name, ...args]) => {
    if (!(String(name) in single)) return [[name, ...args]];
    const [round, accounts, hashes] = args as [bigint, string[], string[]];
    return accounts.map((account, i) => [single[String(name)], round, account, hashes[i]]);
  });
}

/** The one batch event `name` of `tx` as [round, accounts, hashes] for these items (none: no event). */
function batchOf(round: bigint, items: Array<{ address: string; hash: string }>): unknown[][] {
  return items.length === 0 ? [] : [[round, items.map((i) => i.address), items.map((i) => i.hash)]];
}

/** The selector of a ledger custom error: a rejected item's reason. */
function reason(f: Fixture, error: string): string {
  return f.ledger.interface.getError(error)!.selector;
}

const MODEL = blobHash("model 1");
const OTHER_MODEL = blobHash("another model");

describe("FederationLedger: relayed EIP-712 messages", function () {
  describe("digests", function () {
    it("are the EIP-712 digests any wallet signs", async function () {
      const { ledger, domain } = await networkHelpers.loadFixture(relayFixture);
      const hash = blobHash("x");
      expect(await ledger.updateCommitmentDigest(7, hash)).to.equal(
        TypedDataEncoder.hash(domain, TYPES.UpdateCommitment, { round: 7, updateHash: hash }),
      );
      expect(await ledger.modelAttestationDigest(7, hash)).to.equal(
        TypedDataEncoder.hash(domain, TYPES.ModelAttestation, { round: 7, modelHash: hash }),
      );
      expect(await ledger.encryptionParamsDigest(hash)).to.equal(
        TypedDataEncoder.hash(domain, TYPES.EncryptionParams, { paramsHash: hash }),
      );
    });
  });

  describe("relayEncryptionParams", function () {
    it("commits the key dealer's signed parameters hash (65-byte and compact signatures)", async function () {
      for (const compact of [false, true]) {
        const f = await networkHelpers.loadFixture(relayFixture);
        const full = await signParams(f, PARAMS);
        const signature = compact ? ethersLib.Signature.from(full).compactSerialized : full;
        await expect(f.ledger.connect(f.relayer).relayEncryptionParams(PARAMS, signature))
          .to.emit(f.ledger, "EncryptionParamsCommitted")
          .withArgs(f.participants[0].address, PARAMS);
        expect(await f.ledger.encryptionParamsHash()).to.equal(PARAMS);
      }
    });

    it("refuses anything but the key dealer's signature of this hash on this ledger and chain", async function () {
      const f = await networkHelpers.loadFixture(relayFixture);
      const dealer = f.participants[0].address;
      const forged = [
        await signParams(f, PARAMS, f.domain, f.participants[1]), // another participant
        await signParams(f, blobHash("other parameters")), // another hash
        await signParams(f, PARAMS, await domainOf(f.ledger, { chainId: 1n })), // another chain
        await signParams(f, PARAMS, await domainOf(f.ledger, { verifyingContract: await f.other.getAddress() })),
        "0x" + "00".repeat(65), // not a signature
        "0x1234", // not even its length
      ];
      for (const signature of forged) {
        await expect(f.ledger.connect(f.relayer).relayEncryptionParams(PARAMS, signature))
          .to.be.revertedWithCustomError(f.ledger, "LedgerInvalidSignature")
          .withArgs(dealer);
      }
      expect(await f.ledger.encryptionParamsHash()).to.equal(ethers.ZeroHash);
    });

    it("refuses a zero hash, a second commitment, and any signature while no dealer is appointed", async function () {
      const f = await networkHelpers.loadFixture(relayFixture);
      await expect(
        f.ledger.connect(f.relayer).relayEncryptionParams(ethers.ZeroHash, await signParams(f, ethers.ZeroHash)),
      ).to.be.revertedWithCustomError(f.ledger, "LedgerZeroHash");
      await f.ledger.connect(f.relayer).relayEncryptionParams(PARAMS, await signParams(f, PARAMS));
      const again = blobHash("again");
      await expect(
        f.ledger.connect(f.relayer).relayEncryptionParams(again, await signParams(f, again)),
      ).to.be.revertedWithCustomError(f.ledger, "LedgerParamsAlreadyCommitted");

      const bare = await ethers.deployContract("FederationLedger", [f.admin.address, REWARD, 5_000]);
      await bare.grantRole(RELAYER_ROLE, f.relayer.address);
      const signature = await f.participants[0].signTypedData(await domainOf(bare), TYPES.EncryptionParams, {
        paramsHash: PARAMS,
      });
      await expect(bare.connect(f.relayer).relayEncryptionParams(PARAMS, signature))
        .to.be.revertedWithCustomError(bare, "LedgerInvalidSignature")
        .withArgs(ethers.ZeroAddress);
    });

    shouldRequireRole(() => networkHelpers.loadFixture(relayFixture), {
      fn: "relayEncryptionParams",
      role: RELAYER_ROLE,
      contract: (f) => f.ledger,
      callers: (f) => [f.admin, f.operator, f.aggregator, f.outsider],
      holder: (f) => f.relayer,
      args: async (f) => [PARAMS, await signParams(f, PARAMS)],
    });
  });

  describe("relayCommitments", function () {
    it("commits every good item and lists them all in one UpdatesCommitted event", async function () {
      const f = await openRound();
      const items = await commitments(f);
      const tx = f.ledger.connect(f.relayer).relayCommitments(1, items);
      expect(await logsOf(f, tx)).to.deep.equal([
        ["UpdatesCommitted", 1n, f.participants.map((p) => p.address), f.participants.map((p) => updateOf(p))],
      ]);
      for (const p of f.participants) expect(await f.ledger.hasCommitted(1, p.address)).to.equal(true);
      expect(await f.ledger.hasCommitted(1, f.stranger.address)).to.equal(false);
    });

    it("skips each bad item with its reason, unchanged, and commits the good ones around it", async function () {
      const f = await openRound();
      const [a, b, c, d, e] = f.participants;
      const otherChain = await domainOf(f.ledger, { chainId: 1n });
      const otherLedger = await domainOf(f.ledger, { verifyingContract: await f.other.getAddress() });
      const forged = await signItem("UpdateCommitment", f.domain, f.stranger, 1, updateOf(b));
      const cases: Array<[label: string, item: SignedItem, error: string]> = [
        ["forged", { ...forged, signer: b.address }, "LedgerInvalidSignature"],
        ["other chain", await signItem("UpdateCommitment", otherChain, c, 1, updateOf(c)), "LedgerInvalidSignature"],
        ["other ledger", await signItem("UpdateCommitment", otherLedger, d, 1, updateOf(d)), "LedgerInvalidSignature"],
        ["other round", await signItem("UpdateCommitment", f.domain, e, 2, updateOf(e)), "LedgerInvalidSignature"],
        [
          "hash not the one signed",
          { ...(await signItem("UpdateCommitment", f.domain, e, 1, updateOf(e))), hash: blobHash("swapped") },
          "LedgerInvalidSignature",
        ],
        ["not a signature", { signer: e.address, hash: updateOf(e), r: ethers.ZeroHash, vs: ethers.ZeroHash }, "LedgerInvalidSignature"],
        ["zero signer", { signer: ethers.ZeroAddress, hash: updateOf(e), r: ethers.ZeroHash, vs: ethers.ZeroHash }, "LedgerInvalidSignature"],
        ["never admitted", await signItem("UpdateCommitment", f.domain, f.stranger, 1, blobHash("s")), "LedgerNotParticipant"],
        ["zero hash", await signItem("UpdateCommitment", f.domain, e, 1, ethers.ZeroHash), "LedgerZeroHash"],
      ];
      const good = await signItem("UpdateCommitment", f.domain, a, 1, updateOf(a));
      const items = [good, ...cases.map(([, item]) => item)];
      const tx = f.ledger.connect(f.relayer).relayCommitments(1, items);
      expect(await eventsOf(f, tx, "RelayedItemRejected")).to.deep.equal(
        cases.map(([, item, error], i) => [1n, BigInt(i + 1), item.signer, reason(f, error)]),
      );
      expect(await eventsOf(f, tx, "UpdatesCommitted")).to.deep.equal(batchOf(1n, [{ address: a.address, hash: updateOf(a) }]));
      expect(await eventsOf(f, tx, "UpdateCommitted")).to.deep.equal([]);
      for (const p of [b, c, d, e, f.stranger]) expect(await f.ledger.hasCommitted(1, p.address)).to.equal(false);

      // The participants whose items were refused can still commit, relayed or directly.
      const retry = await Promise.all([b, c, d, e].map((p) => signItem("UpdateCommitment", f.domain, p, 1, updateOf(p))));
      expect(await eventsOf(f, f.ledger.connect(f.relayer).relayCommitments(1, retry), "UpdatesCommitted")).to.deep.equal(
        batchOf(1n, [b, c, d, e].map((p) => ({ address: p.address, hash: updateOf(p) }))),
      );
    });

    it("refuses a second commitment: within a batch, across batches and after a direct commit", async function () {
      const f = await openRound();
      const [a, b, c] = f.participants;
      // Bob (funded for the occasion) commits directly first.
      await f.admin.sendTransaction({ to: b.address, value: ethers.parseEther("1") });
      await f.ledger.connect(b.connect(ethers.provider)).commitUpdate(1, updateOf(b));
      const first = await signItem("UpdateCommitment", f.domain, a, 1, updateOf(a));
      const second = await signItem("UpdateCommitment", f.domain, a, 1, blobHash("a's second thought"));
      const bobs = await signItem("UpdateCommitment", f.domain, b, 1, blobHash("b relayed"));
      const carols = await signItem("UpdateCommitment", f.domain, c, 1, updateOf(c));
      const tx = f.ledger.connect(f.relayer).relayCommitments(1, [first, second, first, bobs, carols]);
      const already = reason(f, "LedgerAlreadyCommitted");
      expect(await eventsOf(f, tx, "RelayedItemRejected")).to.deep.equal([
        [1n, 1n, a.address, already],
        [1n, 2n, a.address, already],
        [1n, 3n, b.address, already],
      ]);
      expect(await eventsOf(f, tx, "UpdatesCommitted")).to.deep.equal(
        batchOf(1n, [
          { address: a.address, hash: updateOf(a) },
          { address: c.address, hash: updateOf(c) },
        ]),
      );
      // The same batch again (a replay): every item refused, nothing emitted but rejections.
      const replay = f.ledger.connect(f.relayer).relayCommitments(1, [first, carols]);
      expect(await logsOf(f, replay)).to.deep.equal([
        ["RelayedItemRejected", 1n, 0n, a.address, already],
        ["RelayedItemRejected", 1n, 1n, c.address, already],
      ]);
      // The direct path refuses a participant whose commitment was relayed.
      await f.admin.sendTransaction({ to: c.address, value: ethers.parseEther("1") });
      await expect(f.ledger.connect(c.connect(ethers.provider)).commitUpdate(1, blobHash("c direct")))
        .to.be.revertedWithCustomError(f.ledger, "LedgerAlreadyCommitted")
        .withArgs(1n, c.address);
    });

    it("refuses a removed participant's item, and keeps the others' bits when it is re-admitted", async function () {
      const f = await openRound();
      const [a, b] = f.participants;
      await f.ledger.connect(f.operator).removeParticipant(b.address);
      const tx = f.ledger.connect(f.relayer).relayCommitments(1, [
        await signItem("UpdateCommitment", f.domain, a, 1, updateOf(a)),
        await signItem("UpdateCommitment", f.domain, b, 1, updateOf(b)),
      ]);
      expect(await logsOf(f, tx)).to.deep.equal([
        ["RelayedItemRejected", 1n, 1n, b.address, reason(f, "LedgerNotParticipant")],
        ["UpdatesCommitted", 1n, [a.address], [updateOf(a)]],
      ]);
      await f.ledger.connect(f.operator).admitParticipant(b.address, await publicKeyOf(b));
      expect(await f.ledger.hasCommitted(1, a.address)).to.equal(true);
      expect(await f.ledger.hasCommitted(1, b.address)).to.equal(false);
    });

    it("refuses the whole batch outside the round's phase, after its deadline, or empty", async function () {
      const f = await networkHelpers.loadFixture(relayFixture);
      const items = await commitments(f);
      const noneCommitted = async (fixture: Fixture) => {
        for (const p of fixture.participants) expect(await fixture.ledger.hasCommitted(1, p.address)).to.equal(false);
      };
      // Never opened.
      await expect(f.ledger.connect(f.relayer).relayCommitments(1, items))
        .to.be.revertedWithCustomError(f.ledger, "LedgerRoundNotOpen")
        .withArgs(1n);
      await noneCommitted(f);
      const open = await openRound();
      await expect(open.ledger.connect(open.relayer).relayCommitments(1, [])).to.be.revertedWithCustomError(
        open.ledger,
        "LedgerEmptyBatch",
      );
      const deadline = (await open.ledger.getRound(1)).deadline;
      await networkHelpers.time.increaseTo(deadline + 1n);
      await expect(open.ledger.connect(open.relayer).relayCommitments(1, items))
        .to.be.revertedWithCustomError(open.ledger, "LedgerDeadlinePassed")
        .withArgs(1n, deadline);
      await noneCommitted(open);
      // Closed (with the first four included; the fifth's late item is refused as a whole).
      const closed = await closedRound();
      await expect(closed.ledger.connect(closed.relayer).relayCommitments(1, items.slice(4)))
        .to.be.revertedWithCustomError(closed.ledger, "LedgerRoundNotOpen")
        .withArgs(1n);
    });

    it("is what closeRound checks: a refused item's participant cannot be included", async function () {
      const f = await openRound();
      const [a, b] = f.participants;
      const bad = { ...(await signItem("UpdateCommitment", f.domain, f.stranger, 1, updateOf(b))), signer: b.address };
      await f.ledger.connect(f.relayer).relayCommitments(1, [await signItem("UpdateCommitment", f.domain, a, 1, updateOf(a)), bad]);
      const both = sortAddresses([a, b]).map((p) => p.address);
      await expect(f.ledger.connect(f.aggregator).closeRound(1, blobHash("agg"), both, [], ethers.ZeroHash))
        .to.be.revertedWithCustomError(f.ledger, "LedgerMissingCommitment")
        .withArgs(1n, b.address);
      await expect(f.ledger.connect(f.aggregator).closeRound(1, blobHash("agg"), [a.address], [], ethers.ZeroHash))
        .to.emit(f.ledger, "RoundClosed")
        .withArgs(1n, blobHash("agg"), [a.address], REWARD, [], ethers.ZeroHash);
      expect(await f.token.balanceOf(a.address)).to.equal(REWARD);
    });

    shouldRequireRole(openRound, {
      fn: "relayCommitments",
      role: RELAYER_ROLE,
      contract: (f) => f.ledger,
      callers: (f) => [f.admin, f.operator, f.aggregator, f.outsider],
      holder: (f) => f.relayer,
      args: async (f) => [1n, await commitments(f)],
      observe: (f) => f.ledger.hasCommitted(1, f.participants[0].address),
    });
  });

  describe("relayAttestations", function () {
    it("records every good item in one ModelsAttested event, then publishes at the quorum", async function () {
      const f = await closedRound();
      const [a, b, c] = f.participants;
      const items = await Promise.all([a, b, c].map((p) => signItem("ModelAttestation", f.domain, p, 1, MODEL)));
      const tx = f.ledger.connect(f.relayer).relayAttestations(1, items);
      expect(await logsOf(f, tx)).to.deep.equal([
        ["ModelsAttested", 1n, [a.address, b.address, c.address], [MODEL, MODEL, MODEL]], // c after the quorum
        ["ModelPublished", 1n, MODEL, 2n], // the quorum
      ]);
      const round = await f.ledger.getRound(1);
      expect(round.status).to.equal(3n); // Published
      expect(round.publishedModelHash).to.equal(MODEL);
      expect(await f.ledger.attestationCount(1, MODEL)).to.equal(3n);
      for (const p of [a, b, c]) expect(await f.ledger.hasAttested(1, p.address)).to.equal(true);
    });

    it("skips each bad item with its reason, unchanged, and records the good ones around it", async function () {
      const f = await closedRound();
      const [a, b, c, d, e] = f.participants; // e committed but was not included
      const otherChain = await domainOf(f.ledger, { chainId: 1n });
      const otherLedger = await domainOf(f.ledger, { verifyingContract: await f.other.getAddress() });
      const forged = await signItem("ModelAttestation", f.domain, f.stranger, 1, MODEL);
      const cases: Array<[SignedItem, string]> = [
        [{ ...forged, signer: b.address }, "LedgerInvalidSignature"],
        [await signItem("ModelAttestation", otherChain, b, 1, MODEL), "LedgerInvalidSignature"],
        [await signItem("ModelAttestation", otherLedger, c, 1, MODEL), "LedgerInvalidSignature"],
        [await signItem("ModelAttestation", f.domain, c, 2, MODEL), "LedgerInvalidSignature"],
        // A commitment signature is no attestation, even with the same round and hash.
        [await signItem("UpdateCommitment", f.domain, d, 1, MODEL), "LedgerInvalidSignature"],
        [await signItem("ModelAttestation", f.domain, e, 1, MODEL), "LedgerNotIncluded"],
        [await signItem("ModelAttestation", f.domain, f.stranger, 1, MODEL), "LedgerNotIncluded"],
        [await signItem("ModelAttestation", f.domain, d, 1, ethers.ZeroHash), "LedgerZeroHash"],
      ];
      const good = await signItem("ModelAttestation", f.domain, a, 1, MODEL);
      const tx = f.ledger.connect(f.relayer).relayAttestations(1, [...cases.map(([item]) => item), good]);
      expect(await eventsOf(f, tx, "RelayedItemRejected")).to.deep.equal(
        cases.map(([item, error], i) => [1n, BigInt(i), item.signer, reason(f, error)]),
      );
      expect(await eventsOf(f, tx, "ModelsAttested")).to.deep.equal(batchOf(1n, [{ address: a.address, hash: MODEL }]));
      expect(await eventsOf(f, tx, "ModelPublished")).to.deep.equal([]);
      for (const p of [b, c, d, e, f.stranger]) expect(await f.ledger.hasAttested(1, p.address)).to.equal(false);
      expect(await f.ledger.attestationCount(1, MODEL)).to.equal(1n);
      expect(await f.ledger.attestationCount(1, ethers.ZeroHash)).to.equal(0n);
    });

    it("refuses a second attestation: within a batch, across batches and after a direct one", async function () {
      const f = await closedRound();
      const [a, b, c] = f.participants;
      await f.admin.sendTransaction({ to: b.address, value: ethers.parseEther("1") });
      await f.ledger.connect(b.connect(ethers.provider)).attestModel(1, MODEL);
      const first = await signItem("ModelAttestation", f.domain, a, 1, MODEL);
      const changedMind = await signItem("ModelAttestation", f.domain, a, 1, OTHER_MODEL);
      const bobs = await signItem("ModelAttestation", f.domain, b, 1, MODEL);
      const tx = f.ledger.connect(f.relayer).relayAttestations(1, [first, changedMind, bobs]);
      const already = reason(f, "LedgerAlreadyAttested");
      expect(await eventsOf(f, tx, "RelayedItemRejected")).to.deep.equal([
        [1n, 1n, a.address, already],
        [1n, 2n, b.address, already],
      ]);
      expect(await eventsOf(f, tx, "ModelsAttested")).to.deep.equal(batchOf(1n, [{ address: a.address, hash: MODEL }]));
      expect(await eventsOf(f, tx, "ModelPublished")).to.deep.equal([[1n, MODEL, 2n]]);
      const replay = f.ledger.connect(f.relayer).relayAttestations(1, [first, await signItem("ModelAttestation", f.domain, c, 1, MODEL)]);
      expect(await logsOf(f, replay)).to.deep.equal([
        ["RelayedItemRejected", 1n, 0n, a.address, already],
        ["ModelsAttested", 1n, [c.address], [MODEL]],
      ]);
      expect(await f.ledger.attestationCount(1, MODEL)).to.equal(3n);
      expect(await f.ledger.attestationCount(1, OTHER_MODEL)).to.equal(0n);
    });

    it("refuses the whole batch unless the round is Closed or Published, or when empty", async function () {
      const f = await openRound();
      const items = [await signItem("ModelAttestation", f.domain, f.participants[0], 1, MODEL)];
      await expect(f.ledger.connect(f.relayer).relayAttestations(1, items))
        .to.be.revertedWithCustomError(f.ledger, "LedgerRoundNotClosed")
        .withArgs(1n);
      const closed = await closedRound();
      await expect(closed.ledger.connect(closed.relayer).relayAttestations(1, [])).to.be.revertedWithCustomError(
        closed.ledger,
        "LedgerEmptyBatch",
      );
      await closed.ledger.connect(closed.aggregator).abandonRound(1, "no quorum");
      await expect(closed.ledger.connect(closed.relayer).relayAttestations(1, items))
        .to.be.revertedWithCustomError(closed.ledger, "LedgerRoundNotClosed")
        .withArgs(1n);
      expect(await closed.ledger.hasAttested(1, closed.participants[0].address)).to.equal(false);
    });

    it("leaves the same events, expanded, and state as the same attestations made directly", async function () {
      // A dissenting hash is attested first and a second hash reaches the quorum: the most
      // intricate bookkeeping (the leading hash changes at publication). A batch's
      // ModelPublished follows its ModelsAttested; directly it follows the quorum's ModelAttested.
      const order: Array<[number, string]> = [
        [0, OTHER_MODEL],
        [1, MODEL],
        [2, MODEL],
        [3, OTHER_MODEL],
      ];
      const outcomes = [];
      for (const relayed of [false, true]) {
        const f = await closedRound();
        const logs: unknown[][] = [];
        const record = async (tx: Promise<ContractTransactionResponse>) => {
          logs.push(...expanded(await logsOf(f, tx)));
        };
        if (relayed) {
          const items = await Promise.all(
            order.map(([i, hash]) => signItem("ModelAttestation", f.domain, f.participants[i], 1, hash)),
          );
          await record(f.ledger.connect(f.relayer).relayAttestations(1, items.slice(0, 2)));
          await record(f.ledger.connect(f.relayer).relayAttestations(1, items.slice(2)));
        } else {
          for (const [i, hash] of order) {
            const p = f.participants[i];
            await f.admin.sendTransaction({ to: p.address, value: ethers.parseEther("1") });
            await record(f.ledger.connect(p.connect(ethers.provider)).attestModel(1, hash));
          }
        }
        const round = await f.ledger.getRound(1);
        outcomes.push({
          attested: logs.filter(([name]) => name === "ModelAttested"),
          published: logs.filter(([name]) => name === "ModelPublished"),
          status: round.status,
          publishedHash: round.publishedModelHash,
          counts: [await f.ledger.attestationCount(1, MODEL), await f.ledger.attestationCount(1, OTHER_MODEL)],
          hasAttested: await Promise.all(f.participants.map((p) => f.ledger.hasAttested(1, p.address))),
        });
        if (relayed) {
          // The second batch publishes: its ModelPublished comes after its ModelsAttested.
          expect(logs.slice(-3).map(([name]) => name)).to.deep.equal(["ModelAttested", "ModelAttested", "ModelPublished"]);
        }
      }
      expect(outcomes[1]).to.deep.equal(outcomes[0]);
      const { participants } = await closedRound(); // the same accounts: one fixture
      expect(outcomes[0].attested).to.deep.equal(
        order.map(([i, hash]) => ["ModelAttested", 1n, participants[i].address, hash]),
      );
      expect(outcomes[0].published).to.deep.equal([["ModelPublished", 1n, MODEL, 2n]]);
      expect(outcomes[0].publishedHash).to.equal(MODEL);
      expect(outcomes[0].counts).to.deep.equal([2n, 2n]);
    });

    shouldRequireRole(closedRound, {
      fn: "relayAttestations",
      role: RELAYER_ROLE,
      contract: (f) => f.ledger,
      callers: (f) => [f.admin, f.operator, f.aggregator, f.outsider],
      holder: (f) => f.relayer,
      args: async (f) => [1n, [await signItem("ModelAttestation", f.domain, f.participants[0], 1, MODEL)]],
      observe: (f) => f.ledger.hasAttested(1, f.participants[0].address),
    });
  });

  describe("stable participant indices", function () {
    it("spread over several bitmap words: commits, inclusion and attestations of 200 participants", async function () {
      // 200 participants span two commitment words (192 each) and two flag words (128 each).
      const f = await networkHelpers.loadFixture(relayFixture);
      const crowd = sortAddresses(Array.from({ length: 200 }, () => ethersLib.Wallet.createRandom()));
      await f.ledger.connect(f.operator).admitParticipants(
        crowd.map((p) => p.address),
        await Promise.all(crowd.map((p) => publicKeyOf(p))),
      );
      await f.ledger.connect(f.relayer).relayEncryptionParams(PARAMS, await signParams(f, PARAMS));
      const deadline = BigInt(await networkHelpers.time.latest()) + HOUR;
      await f.ledger.connect(f.aggregator).openRound(1, blobHash("model-0"), deadline, 1);
      // Items in descending index order, so the loops change words back and forth.
      const committers = [...crowd].reverse().filter((_, i) => i % 3 !== 0);
      const items = await Promise.all(committers.map((p) => signItem("UpdateCommitment", f.domain, p, 1, updateOf(p))));
      const tx = f.ledger.connect(f.relayer).relayCommitments(1, [...items, items[0], items[items.length - 1]]);
      expect(await eventsOf(f, tx, "UpdatesCommitted")).to.deep.equal(
        batchOf(1n, committers.map((p) => ({ address: p.address, hash: updateOf(p) }))),
      );
      expect(await eventsOf(f, tx, "RelayedItemRejected")).to.have.length(2);
      for (const p of crowd) {
        expect(await f.ledger.hasCommitted(1, p.address)).to.equal(committers.includes(p));
      }
      const included = sortAddresses(committers);
      await f.ledger.connect(f.aggregator).closeRound(1, blobHash("agg"), included.map((p) => p.address), [], ethers.ZeroHash);
      const attesters = included.filter((_, i) => i % 2 === 0);
      const attestations = await Promise.all(attesters.map((p) => signItem("ModelAttestation", f.domain, p, 1, MODEL)));
      await f.ledger.connect(f.relayer).relayAttestations(1, attestations);
      for (const p of crowd) {
        expect(await f.ledger.isIncluded(1, p.address)).to.equal(committers.includes(p));
        expect(await f.ledger.hasAttested(1, p.address)).to.equal(attesters.includes(p));
      }
      expect(await f.ledger.attestationCount(1, MODEL)).to.equal(BigInt(attesters.length));
    });
  });
});
