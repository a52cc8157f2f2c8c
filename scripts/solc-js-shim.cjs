#!/usr/bin/env node
// A `solc` command line on top of solc-js (hardhat/node_modules/solc), enough for
// py-solc-x's compile_standard: no native solc is available from the package registries.
//
//   solc --version
//   solc --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths A,B] [FILE|-]
//
// Imports are resolved like native solc does: a source unit name is looked up under the
// base path (the current directory when none is given), then under each include path,
// and must lie inside the base path, an include path or an allowed path. Remappings in
// the input's settings are applied by the compiler before the lookup. Compilation errors
// go into the output JSON (exit code 0), as with native solc.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const ROOT = path.resolve(__dirname, "..");
const SOLC_PACKAGE = process.env.FEDLEDGER_SOLCJS_PACKAGE || path.join(ROOT, "hardhat", "node_modules", "solc");

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function loadSolc() {
  try {
    return createRequire(path.join(SOLC_PACKAGE, "package.json"))(SOLC_PACKAGE);
  } catch (err) {
    fail(`Error: cannot load solc-js from ${SOLC_PACKAGE} (${err.message}); run 'make setup' first.`);
  }
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: "", includePaths: [], allowPaths: [], file: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) fail(`Error: option '${flag}' needs a value`);
      return argv[++i];
    };
    if (flag === "--version") opts.version = true;
    else if (flag === "--standard-json") opts.standardJson = true;
    else if (flag === "--base-path") opts.basePath = value();
    else if (flag === "--include-path") opts.includePaths.push(value());
    else if (flag === "--allow-paths") opts.allowPaths.push(...value().split(",").filter(Boolean));
    else if (flag === "-" || !flag.startsWith("-")) opts.file = flag;
    // Same wording as native solc, which py-solc-x turns into UnknownOption.
    else fail(`unrecognised option '${flag}'`);
  }
  return opts;
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  const base = path.resolve(opts.basePath || ".");
  const roots = [base, ...opts.includePaths.map((p) => path.resolve(p))];
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  return (sourceUnitName) => {
    const candidates = path.isAbsolute(sourceUnitName)
      ? [path.normalize(sourceUnitName)]
      : roots.map((root) => path.join(root, sourceUnitName));
    for (const candidate of candidates) {
      if (!fs.existsSync(candidate)) continue;
      if (!allowed.some((dir) => isInside(candidate, dir))) {
        return { error: `${candidate} is outside the base path, include paths and allowed paths` };
      }
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
    return { error: `File not found. Searched the following locations: ${roots.map((r) => `"${r}"`).join(", ")}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    const solc = loadSolc();
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) fail("Error: this solc-js shim supports only --version and --standard-json");
  const input = fs.readFileSync(opts.file && opts.file !== "-" ? opts.file : 0, "utf8");
  const solc = loadSolc();
  process.stdout.write(solc.compile(input, { import: makeImportCallback(opts) }));
  process.stdout.write("\n");
}

main();
