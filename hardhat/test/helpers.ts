import { expect } from "chai";
import { type BaseContract, type Signer, type TypedDataDomain, type TypedDataField, ethers } from "ethers";

/** Role identifiers, as the contracts compute them. */
export const OPERATOR_ROLE = ethers.id("OPERATOR_ROLE");
export const AGGREGATOR_ROLE = ethers.id("AGGREGATOR_ROLE");
export const AUDITOR_ROLE = ethers.id("AUDITOR_ROLE");
export const RELAYER_ROLE = ethers.id("RELAYER_ROLE");
export const MINTER_ROLE = ethers.id("MINTER_ROLE");
export const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

/** Mirror of IFederationLedger.RoundStatus. */
export enum RoundStatus {
  None = 0,
  Open = 1,
  Closed = 2,
  Published = 3,
  Failed = 4,
}

/** 10 tokens (18 decimals) per included update. */
export const REWARD = ethers.parseEther("10");

/** A keccak256 hash standing for some blob, as a participant or the aggregator would compute it. */
export function blobHash(label: string): string {
  return ethers.keccak256(ethers.toUtf8Bytes(label));
}

interface MessageSigner {
  signMessage(message: string): Promise<string>;
}

/**
 * The 64-byte uncompressed secp256k1 public key (x||y, no 0x04 prefix) of a signer,
 * recovered from a signature, the way any wallet can prove its key.
 */
export async function publicKeyOf(signer: MessageSigner): Promise<string> {
  const message = "fedledger public key";
  const signature = await signer.signMessage(message);
  const uncompressed = ethers.SigningKey.recoverPublicKey(ethers.hashMessage(message), signature);
  return ethers.dataSlice(uncompressed, 1);
}

/** Sorts addresses ascending as uint160, the order closeRound requires. */
export function sortAddresses<T extends { address: string }>(accounts: T[]): T[] {
  return [...accounts].sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
}

/** The EIP-712 message types participants sign (IFederationLedger). */
export const TYPES = {
  UpdateCommitment: { UpdateCommitment: [{ name: "round", type: "uint64" }, { name: "updateHash", type: "bytes32" }] },
  ModelAttestation: { ModelAttestation: [{ name: "round", type: "uint64" }, { name: "modelHash", type: "bytes32" }] },
  EncryptionParams: { EncryptionParams: [{ name: "paramsHash", type: "bytes32" }] },
};

/** The ledger's EIP-712 domain; `chainId` and `verifyingContract` can be overridden to forge. */
export async function domainOf(
  ledger: BaseContract,
  override: { chainId?: bigint; verifyingContract?: string } = {},
): Promise<TypedDataDomain> {
  const network = await ledger.runner!.provider!.getNetwork();
  return {
    name: "FederationLedger",
    version: "1",
    chainId: override.chainId ?? network.chainId,
    verifyingContract: override.verifyingContract ?? (await ledger.getAddress()),
  };
}

/** A relayed item, as IFederationLedger.SignedItem: signer, hash, EIP-2098 compact signature. */
export interface SignedItem {
  signer: string;
  hash: string;
  r: string;
  vs: string;
}

interface TypedSigner {
  address: string;
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string>;
}

/** `signer`'s signed `UpdateCommitment(round, hash)` (or `ModelAttestation`) under `domain`. */
export async function signItem(
  kind: "UpdateCommitment" | "ModelAttestation",
  domain: TypedDataDomain,
  signer: TypedSigner,
  round: bigint | number,
  hash: string,
): Promise<SignedItem> {
  const value = kind === "UpdateCommitment" ? { round, updateHash: hash } : { round, modelHash: hash };
  const signature = ethers.Signature.from(await signer.signTypedData(domain, TYPES[kind], value));
  return { signer: signer.address, hash, r: signature.r, vs: signature.yParityAndS };
}

/** Role names by identifier, for test titles. */
const ROLE_NAMES: Record<string, string> = {
  [OPERATOR_ROLE]: "OPERATOR_ROLE",
  [AGGREGATOR_ROLE]: "AGGREGATOR_ROLE",
  [AUDITOR_ROLE]: "AUDITOR_ROLE",
  [RELAYER_ROLE]: "RELAYER_ROLE",
  [MINTER_ROLE]: "MINTER_ROLE",
  [DEFAULT_ADMIN_ROLE]: "DEFAULT_ADMIN_ROLE",
};

/** A signer whose address is known without a request (Hardhat's signers). */
type Account = Signer & { address: string };

/** A call of a role-gated function, as {@link shouldRequireRole} exercises it. */
export interface RoleGatedCall<F> {
  /** The function's name. */
  fn: string;
  /** Arguments that would succeed for a holder of the role, so that only the role decides. */
  args: (fixture: F) => unknown[] | Promise<unknown[]>;
  /** The role the function requires. */
  role: string;
  /** Accounts without the role: each one is refused. */
  callers: (fixture: F) => Account[];
  /** The contract called. */
  contract: (fixture: F) => BaseContract;
  /**
   * An account holding the role. The same call from it must succeed and change the observed
   * state, which shows that the observation would have seen a change made by a refused call.
   * Left out only where no account can ever hold the role.
   */
  holder?: (fixture: F) => Account;
  /** State the call changes that the contract's argument-less views do not show. */
  observe?: (fixture: F) => Promise<unknown>;
}

/**
 * The shared "requires role" behaviour: defines a test in which every caller of
 * `call.callers` is refused with OpenZeppelin's `AccessControlUnauthorizedAccount(caller,
 * role)` and changes no state (every argument-less view of the contract, plus
 * `call.observe`), after which `call.holder`, if any, succeeds and does change it.
 * @param load Returns the test's starting state: the file's fixture through `loadFixture`,
 * plus whatever the call needs (e.g. an open round).
 */
export function shouldRequireRole<F>(load: () => Promise<F>, call: RoleGatedCall<F>): void {
  it(`${call.fn} requires ${ROLE_NAMES[call.role] ?? call.role}`, async function () {
    const fixture = await load();
    const contract = call.contract(fixture);
    const args = await call.args(fixture);
    const before = await observedState(contract, fixture, call.observe);
    for (const caller of call.callers(fixture)) {
      await expect(contract.connect(caller).getFunction(call.fn)(...args))
        .to.be.revertedWithCustomError(contract, "AccessControlUnauthorizedAccount")
        .withArgs(caller.address, call.role);
      expect(await observedState(contract, fixture, call.observe)).to.deep.equal(before);
    }
    if (call.holder !== undefined) {
      await (await contract.connect(call.holder(fixture)).getFunction(call.fn)(...args)).wait();
      expect(await observedState(contract, fixture, call.observe)).to.not.deep.equal(before);
    }
  });
}

/** Every argument-less view of `contract` by name, plus `observe`'s answer, as plain values. */
async function observedState<F>(
  contract: BaseContract,
  fixture: F,
  observe?: (fixture: F) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {};
  for (const fragment of contract.interface.fragments) {
    if (fragment instanceof ethers.FunctionFragment && fragment.constant && fragment.inputs.length === 0) {
      state[fragment.name] = plain(await contract.getFunction(fragment.selector)());
    }
  }
  if (observe !== undefined) state["(observed)"] = plain(await observe(fixture));
  return state;
}

/** ethers' `Result` (arrays and structs) as plain arrays, for deep comparison. */
function plain(value: unknown): unknown {
  return value instanceof ethers.Result ? value.toArray(true) : value;
}
