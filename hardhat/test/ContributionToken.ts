import { expect } from "chai";
import { network } from "hardhat";

import { DEFAULT_ADMIN_ROLE, MINTER_ROLE, shouldRequireRole } from "./helpers.js";

const { ethers, networkHelpers } = await network.create();

/** A ledger and the token it created; plus a stand-alone token whose minter is an EOA. */
async function tokenFixture() {
  const [admin, minter, holder, outsider] = await ethers.getSigners();
  const ledger = await ethers.deployContract("FederationLedger", [admin.address, 1n, 10_000]);
  const token = await ethers.getContractAt("ContributionToken", await ledger.token());
  const standalone = await ethers.deployContract("ContributionToken", ["Test", "TST", minter.address]);
  return { ledger, token, standalone, admin, minter, holder, outsider };
}

type Fixture = Awaited<ReturnType<typeof tokenFixture>>;

const load = () => networkHelpers.loadFixture(tokenFixture);

/** Role administration on the ledger's token: DEFAULT_ADMIN_ROLE, which nobody holds. */
const byTokenAdmin = {
  role: DEFAULT_ADMIN_ROLE,
  contract: (f: Fixture) => f.token,
  callers: (f: Fixture) => [f.admin, f.minter, f.outsider],
  args: (f: Fixture) => [MINTER_ROLE, f.outsider.address],
  observe: (f: Fixture) => f.token.hasRole(MINTER_ROLE, f.outsider.address),
};

describe("ContributionToken", function () {
  describe("created by the ledger", function () {
    it("has the fedledger name, symbol and 18 decimals, and no supply", async function () {
      const { token } = await networkHelpers.loadFixture(tokenFixture);
      expect(await token.name()).to.equal("fedledger Contribution");
      expect(await token.symbol()).to.equal("FLC");
      expect(await token.decimals()).to.equal(18n);
      expect(await token.totalSupply()).to.equal(0n);
    });

    it("makes the ledger its only minter and grants the admin role to nobody", async function () {
      const { ledger, token } = await networkHelpers.loadFixture(tokenFixture);
      const ledgerAddress = await ledger.getAddress();
      expect(await token.MINTER_ROLE()).to.equal(MINTER_ROLE);
      expect(await token.hasRole(MINTER_ROLE, ledgerAddress)).to.equal(true);

      // Every role ever granted on the token: exactly one, MINTER_ROLE to the ledger.
      const grants = await token.queryFilter(token.filters.RoleGranted());
      expect(grants.map((e) => [e.args.role, e.args.account])).to.deep.equal([[MINTER_ROLE, ledgerAddress]]);

      for (const signer of await ethers.getSigners()) {
        expect(await token.hasRole(DEFAULT_ADMIN_ROLE, signer.address)).to.equal(false);
        expect(await token.hasRole(MINTER_ROLE, signer.address)).to.equal(false);
      }
      expect(await token.hasRole(DEFAULT_ADMIN_ROLE, ledgerAddress)).to.equal(false);
      expect(await token.hasRole(DEFAULT_ADMIN_ROLE, ethers.ZeroAddress)).to.equal(false);
    });

    // Nobody but the ledger mints, not even the ledger's admin; nobody administers the roles.
    shouldRequireRole(load, {
      fn: "mint",
      role: MINTER_ROLE,
      contract: (f) => f.token,
      callers: (f) => [f.admin, f.minter, f.outsider],
      args: (f) => [f.outsider.address, 1n],
    });
    shouldRequireRole(load, {
      fn: "mintBatch",
      role: MINTER_ROLE,
      contract: (f) => f.token,
      callers: (f) => [f.admin, f.minter, f.outsider],
      args: (f) => [[f.outsider.address], 1n],
    });
    shouldRequireRole(load, { ...byTokenAdmin, fn: "grantRole" });
    shouldRequireRole(load, {
      ...byTokenAdmin,
      fn: "revokeRole",
      args: async (f) => [MINTER_ROLE, await f.ledger.getAddress()],
      observe: async (f) => f.token.hasRole(MINTER_ROLE, await f.ledger.getAddress()),
    });
  });

  describe("mint", function () {
    it("mints to the receiver and emits Transfer from the zero address", async function () {
      const { standalone, minter, holder } = await networkHelpers.loadFixture(tokenFixture);
      await expect(standalone.connect(minter).mint(holder.address, 5n))
        .to.emit(standalone, "Transfer")
        .withArgs(ethers.ZeroAddress, holder.address, 5n);
      expect(await standalone.balanceOf(holder.address)).to.equal(5n);
      expect(await standalone.totalSupply()).to.equal(5n);
    });

    it("rejects the zero address as receiver", async function () {
      const { standalone, minter } = await networkHelpers.loadFixture(tokenFixture);
      await expect(standalone.connect(minter).mint(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(standalone, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });

    shouldRequireRole(load, {
      fn: "mint",
      role: MINTER_ROLE,
      contract: (f) => f.standalone,
      callers: (f) => [f.admin, f.holder, f.outsider],
      holder: (f) => f.minter,
      args: (f) => [f.holder.address, 1n],
      observe: (f) => f.standalone.balanceOf(f.holder.address),
    });
  });

  describe("mintBatch", function () {
    it("mints to each receiver in order, as mint does each", async function () {
      const { standalone, minter, holder, outsider } = await networkHelpers.loadFixture(tokenFixture);
      await standalone.connect(minter).mint(holder.address, 1n); // an existing holder
      const tx = standalone.connect(minter).mintBatch([outsider.address, holder.address, outsider.address], 5n);
      const receipt = (await (await tx).wait())!;
      const transfers = receipt.logs.map((log) => standalone.interface.parseLog(log)!.args.toArray());
      expect(transfers).to.deep.equal([
        [ethers.ZeroAddress, outsider.address, 5n],
        [ethers.ZeroAddress, holder.address, 5n],
        [ethers.ZeroAddress, outsider.address, 5n],
      ]);
      expect(await standalone.balanceOf(holder.address)).to.equal(6n);
      expect(await standalone.balanceOf(outsider.address)).to.equal(10n);
      expect(await standalone.totalSupply()).to.equal(16n);
      await expect(standalone.connect(minter).mintBatch([], 5n)).to.not.emit(standalone, "Transfer");
    });

    it("mints nothing when one receiver is the zero address", async function () {
      const { standalone, minter, holder } = await networkHelpers.loadFixture(tokenFixture);
      await expect(standalone.connect(minter).mintBatch([holder.address, ethers.ZeroAddress], 5n))
        .to.be.revertedWithCustomError(standalone, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
      expect(await standalone.totalSupply()).to.equal(0n);
    });

    shouldRequireRole(load, {
      fn: "mintBatch",
      role: MINTER_ROLE,
      contract: (f) => f.standalone,
      callers: (f) => [f.admin, f.holder, f.outsider],
      holder: (f) => f.minter,
      args: (f) => [[f.holder.address], 1n],
      observe: (f) => f.standalone.balanceOf(f.holder.address),
    });
  });

  describe("constructor", function () {
    it("rejects a zero minter", async function () {
      const { standalone } = await networkHelpers.loadFixture(tokenFixture);
      await expect(
        ethers.deployContract("ContributionToken", ["Test", "TST", ethers.ZeroAddress]),
      ).to.be.revertedWithCustomError(standalone, "TokenZeroMinter");
    });

    it("grants only MINTER_ROLE, to the given minter", async function () {
      const { standalone, minter } = await networkHelpers.loadFixture(tokenFixture);
      expect(await standalone.hasRole(MINTER_ROLE, minter.address)).to.equal(true);
      expect(await standalone.hasRole(DEFAULT_ADMIN_ROLE, minter.address)).to.equal(false);
      expect(await standalone.getRoleAdmin(MINTER_ROLE)).to.equal(DEFAULT_ADMIN_ROLE);
    });
  });
});
