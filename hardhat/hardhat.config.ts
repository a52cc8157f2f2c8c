/**
 * Hardhat 3 project of fedledger: compiles ../contracts (through the `contracts`
 * symlink, since Hardhat only compiles files inside its project root), runs the
 * contract tests in test/, and serves the devnet (`hardhat node`).
 *
 * Compiler: solc-js 0.8.37 from node_modules/solc. Hardhat uses a local compiler
 * when `solidity.path` is the absolute path of a compiler; a `.js` file there is
 * loaded as solc-js (wasm), so Hardhat never downloads a compiler.
 *
 * The compiler settings below are THE contract build settings of the project.
 * The Python side (py-solc-x through scripts/solc) must compile with exactly:
 *
 *   { optimizer: { enabled: true, runs: 200 }, evmVersion: "prague",
 *     metadata: { bytecodeHash: "none" } }
 *
 * `bytecodeHash: "none"` is what makes both routes produce identical bytecode:
 * Hardhat names sources `project/contracts/X.sol` and
 * `npm/@openzeppelin/contracts@5.7.0/...`, py-solc-x names them `contracts/X.sol`
 * and `@openzeppelin/contracts/...`; those names enter the metadata, so an IPFS
 * metadata hash in the bytecode would differ. Without it, the CBOR trailer holds
 * only the compiler version, and the bytecode is the same byte for byte.
 *
 * EVM: target `prague` (py-evm, the embedded chain, supports no later fork), and
 * the simulated networks (tests and `hardhat node`) run the `prague` hardfork so
 * that gas costs match the embedded chain. Chain id 31337.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatEthersChaiMatchers from "@nomicfoundation/hardhat-ethers-chai-matchers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatTypechain from "@nomicfoundation/hardhat-typechain";
import { defineConfig } from "hardhat/config";

const projectDir = path.dirname(fileURLToPath(import.meta.url));

/** solc-js, absolute path (Hardhat requires it absolute to use it as a local compiler). */
const SOLCJS_PATH = path.join(projectDir, "node_modules", "solc", "soljson.js");

const SOLC_VERSION = "0.8.37";
const HARDFORK = "prague";
const CHAIN_ID = 31337;

/** The project's contract build settings (see the header: the Python route must use the same). */
const COMPILER = {
  version: SOLC_VERSION,
  path: SOLCJS_PATH,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: HARDFORK,
    metadata: { bytecodeHash: "none" },
  },
};

export default defineConfig({
  plugins: [
    hardhatEthers,
    hardhatEthersChaiMatchers,
    hardhatMocha,
    hardhatNetworkHelpers,
    hardhatTypechain,
  ],
  paths: {
    sources: "contracts",
    tests: { mocha: "test" },
  },
  solidity: {
    // Both profiles spelled out: Hardhat's built-in `production` profile would
    // otherwise replace these settings with its own optimizer-only ones.
    profiles: {
      default: COMPILER,
      production: { ...COMPILER, isolated: true },
    },
  },
  networks: {
    // Used by `hardhat test`.
    default: {
      type: "edr-simulated",
      chainType: "l1",
      chainId: CHAIN_ID,
      hardfork: HARDFORK,
    },
    // Used by `hardhat node` (the devnet). Besides a block per transaction, a block every
    // second, as a live chain makes them: round deadlines are in chain time, and without
    // traffic an automine-only node's clock would stand still (ahead of the wall clock after
    // a burst of transactions, one second per block).
    node: {
      type: "edr-simulated",
      chainType: "l1",
      chainId: CHAIN_ID,
      hardfork: HARDFORK,
      mining: { auto: true, interval: 1000 },
    },
  },
  test: {
    mocha: { timeout: 60_000 },
  },
});
