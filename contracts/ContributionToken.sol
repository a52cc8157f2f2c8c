// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title ContributionToken
 * @notice ERC-20 token (18 decimals) rewarding participants whose model updates
 * went into a federated-learning round.
 * @dev Only holders of {MINTER_ROLE} can mint. The role is granted once, in the
 * constructor, and nobody holds `DEFAULT_ADMIN_ROLE`, so the set of minters can
 * never change: when the minter is a {FederationLedger}, only the ledger's reward
 * rule ever creates tokens.
 */
contract ContributionToken is ERC20, AccessControl {
    /// @notice Role allowed to call {mint}.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Raised by the constructor when the minter given is the zero address. Errors of
    /// this contract are named `Token…` (its domain prefix; the ledger's are `Ledger…`).
    error TokenZeroMinter();

    /**
     * @notice Creates the token and makes `minter` its only, permanent minter.
     * @dev Grants {MINTER_ROLE} to `minter`; grants `DEFAULT_ADMIN_ROLE` to nobody.
     *
     * Requirements:
     * - `minter` is not the zero address ({TokenZeroMinter}).
     *
     * Emits a {RoleGranted} event.
     * @param name_ The token name.
     * @param symbol_ The token symbol.
     * @param minter The only account that can ever mint.
     */
    constructor(string memory name_, string memory symbol_, address minter) ERC20(name_, symbol_) {
        if (minter == address(0)) revert TokenZeroMinter();
        _grantRole(MINTER_ROLE, minter);
    }

    /**
     * @notice Mints `amount` tokens (in 10^-18 units) to `to`.
     *
     * Requirements:
     * - the caller has {MINTER_ROLE};
     * - `to` is not the zero address.
     *
     * Emits a {Transfer} event from the zero address.
     * @param to The receiver of the new tokens.
     * @param amount The amount to mint.
     */
    function mint(address to, uint256 amount) external virtual onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /**
     * @notice Mints `amount` tokens (in 10^-18 units) to each account of `to`: one call for a
     * whole round's rewards, so the ledger pays one external call per round instead of one per
     * rewarded participant. Each mint is OpenZeppelin's `_mint`, as in {mint}.
     *
     * Requirements:
     * - the caller has {MINTER_ROLE};
     * - no account of `to` is the zero address.
     *
     * Emits a {Transfer} event from the zero address per account, in order.
     * @param to The receivers of the new tokens (an account listed twice receives twice).
     * @param amount The amount each receives.
     */
    function mintBatch(address[] calldata to, uint256 amount) external virtual onlyRole(MINTER_ROLE) {
        for (uint256 i = 0; i < to.length; ++i) {
            _mint(to[i], amount);
        }
    }
}
