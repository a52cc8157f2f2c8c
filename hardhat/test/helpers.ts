import { ethers } from "ethers";

/** Role identifiers, as the contracts compute them. */
export const OPERATOR_ROLE = ethers.id("OPERATOR_ROLE");
export const AGGREGATOR_ROLE = ethers.id("AGGREGATOR_ROLE");
export const AUDITOR_ROLE = ethers.id("AUDITOR_ROLE");
export const MINTER_ROLE = ethers.id("MINTER_ROLE");
export const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

/** Mirror of FederationLedger.RoundStatus. */
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
