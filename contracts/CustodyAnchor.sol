// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title CustodyAnchor
 * @notice Append-only on-chain log of Custody Ledger Merkle batch roots. Batch `seq` can only be
 * anchored after batches `0 … seq-1`, and once anchored its root never changes, so anyone holding an
 * inclusion proof can check that a custody event has been committed since the block that anchored its
 * batch, without trusting the service that built the proof.
 * @dev Version 2 (`ANCHOR_VERSION`): anchoring writes one storage slot, the batch root (about 49,200 gas
 * a batch, see `npm run bench:gas`). The leaf count and the block time are in the {BatchAnchored} log
 * only; version 1 also stored them and had a `batch(seq)` view for them, which version 2 cannot answer
 * and does not have. Everything else, the log included, is the same in both versions.
 * @dev Leaves are OpenZeppelin "standard" Merkle tree leaves over
 * `["bytes32","bytes32","bytes32"] = [eventDigest, signaturesHash, previousLeaf]` (see {custodyLeaf});
 * inner nodes hash sorted pairs (OpenZeppelin {MerkleProof}, merkletreejs `sortPairs: true`).
 * Only accounts holding {ANCHORER_ROLE} anchor; {DEFAULT_ADMIN_ROLE} manages roles and cannot anchor
 * unless it is granted {ANCHORER_ROLE} as well.
 *
 * A batch that carries the ledger's state anchors the `custody-tree/2` root: the sorted pair of
 * `eventsRoot` and the state commitment `keccak256(0x02 ‖ eventsRoot ‖ stateRoot)` (see {batchRootV2},
 * {stateCommitment}), where `eventsRoot` is the event tree above and `stateRoot` the root of the
 * `custody-state/1` map. An event's proof is then its event-tree proof followed by the state commitment,
 * so {verifyInclusion} and {MerkleProof} check it unchanged. The map is a compact sparse Merkle tree over 256-bit
 * keys (bits most significant first) whose empty subtree is zero, whose one-key subtree is that key's
 * leaf `keccak256(0x00 ‖ key ‖ valueHash)` (see {stateLeafHash}) and whose other subtrees are
 * `keccak256(0x01 ‖ left ‖ right)`. {verifyState}, {verifyInclusion}, {verifyShipmentHead} and
 * {verifySigningKey} let another contract settle on such a proof bundle; src/state/custody-state.ts is
 * the reference, and test/vectors/custody-state-v1.json pins both sides.
 */
contract CustodyAnchor is AccessControl {
    /// @notice Role allowed to call {anchorBatch}.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @dev Most siblings a `custody-state/1` proof can have: one per key bit (see {stateRootFromProof}).
    uint256 private constant _MAX_STATE_PROOF_LENGTH = 256;

    /// @dev Tag of shipment records in the `custody-state/1` map (see {shipmentStateKey}).
    string private constant _SHIPMENT_KEY_TAG = "custody-state/1:shipment";

    /// @dev Tag of signing-key records in the `custody-state/1` map (see {signingKeyStateKey}).
    string private constant _SIGNING_KEY_TAG = "custody-state/1:key";

    /// @notice Version of this contract's storage and views: 2 (version 1 had no such constant).
    uint256 public constant ANCHOR_VERSION = 2;

    /**
     * @dev Root of batch `seq`, zero until anchored: the one slot {anchorBatch} writes. Batches are
     * anchored in order and roots are never zero, so the anchored batches are always `0 … n-1` and
     * {nextSeq} is the first seq whose root is zero.
     */
    mapping(uint64 seq => bytes32 root) private _roots;

    /**
     * @dev The constructor's `anchorer`. It anchors without the role lookup (a cold SLOAD, 2,100 gas)
     * while the contract holds no ether: the contract never pays ether out, and the role of this account
     * can only be revoked or renounced once it holds some (see {closeAnchorerShortcut}), so while the
     * balance is zero this account provably still has {ANCHORER_ROLE}. Ether sent by anyone else
     * closes the shortcut too, which costs the anchorer that lookup and nothing more.
     */
    address private immutable _INITIAL_ANCHORER;

    /// @dev One anchored `custody-state/1` state: the batch and the two roots its root opens to.
    struct StateRef {
        uint64 seq;
        bytes32 eventsRoot;
        bytes32 stateRoot;
    }

    /// @dev A shipment record of a state and its proof.
    struct ShipmentRecord {
        bytes32 headLeaf;
        uint64 eventCount;
        bytes32[] siblings;
    }

    /// @dev A signing-key record of a state and its proof.
    struct KeyRecord {
        string organization;
        uint64 validFromMs;
        uint64 revokedAtMs;
        bytes32[] siblings;
    }

    /// @dev 1 + the later seq of the first pair of contradicting states proven; 0 while none is.
    uint64 private _contradictedAt;

    /**
     * @notice Emitted when batch `seq` with Merkle root `root` over `leafCount` leaves is anchored
     * at block time `timestamp`.
     */
    event BatchAnchored(uint64 indexed seq, bytes32 indexed root, uint32 leafCount, uint64 timestamp);

    /**
     * @notice Emitted when someone proved that the states anchored as batches `earlierSeq` and
     * `laterSeq` contradict each other on record `key`: the anchoring party rewrote history.
     */
    event StateContradictionProven(uint64 indexed earlierSeq, uint64 indexed laterSeq, bytes32 key);

    /// @notice Emitted when {closeAnchorerShortcut} closed (or kept closed) the initial anchorer's shortcut.
    event AnchorerShortcutClosed(address indexed by, uint256 value);

    /// @notice The constructor was given the zero address as admin.
    error CustodyAnchorZeroAdmin();

    /// @notice The constructor was given the zero address as anchorer.
    error CustodyAnchorZeroAnchorer();

    /// @notice {anchorBatch} was called with `given` while the next sequence number is `expected`.
    error CustodyAnchorUnexpectedSeq(uint64 expected, uint64 given);

    /// @notice {anchorBatch} was called with a zero root.
    error CustodyAnchorZeroRoot();

    /// @notice {anchorBatch} was called with a leaf count of zero.
    error CustodyAnchorEmptyBatch();

    /**
     * @notice ANCHORER_ROLE of the initial anchorer `account` cannot be revoked or renounced while its
     * shortcut is open: call {closeAnchorerShortcut} with any non-zero value first.
     */
    error CustodyAnchorShortcutOpen(address account);

    /// @notice {closeAnchorerShortcut} was called without ether.
    error CustodyAnchorNoValue();

    /// @notice {stateRootFromProof} was given `length` siblings, more than 256.
    error CustodyAnchorProofTooLong(uint256 length);

    /// @notice A contradiction proof named states out of order, records that are not in them, or records that agree.
    error CustodyAnchorNoContradiction();

    /**
     * @notice Deploys the anchor with `admin` managing roles and `anchorer` allowed to anchor batches.
     * @param admin Account granted {DEFAULT_ADMIN_ROLE}; must not be the zero address.
     * @param anchorer Account granted {ANCHORER_ROLE}; must not be the zero address. May equal `admin`.
     */
    constructor(address admin, address anchorer) {
        if (admin == address(0)) revert CustodyAnchorZeroAdmin();
        if (anchorer == address(0)) revert CustodyAnchorZeroAnchorer();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, anchorer);
        _INITIAL_ANCHORER = anchorer;
    }

    /**
     * @notice Anchors batch `seq`: records its Merkle `root`; `leafCount` and the block time go in the log.
     * @dev Reverts with {AccessControlUnauthorizedAccount} unless the caller has {ANCHORER_ROLE}, with
     * {CustodyAnchorUnexpectedSeq} unless `seq == nextSeq()` (so a root is never overwritten and no
     * sequence number is skipped), with {CustodyAnchorZeroRoot} for a zero root and with
     * {CustodyAnchorEmptyBatch} for a zero leaf count. Emits {BatchAnchored}. Writes one storage slot;
     * `seq == nextSeq()` is checked as "no root at `seq`, a root at `seq - 1`", so the count of anchored
     * batches is not stored.
     * @param seq Sequence number of the batch; must equal {nextSeq}.
     * @param root Merkle root of the batch; must not be zero.
     * @param leafCount Number of leaves in the batch; must not be zero.
     */
    function anchorBatch(uint64 seq, bytes32 root, uint32 leafCount) external {
        // the initial anchorer's shortcut (see _INITIAL_ANCHORER), else the role lookup
        if (msg.sender != _INITIAL_ANCHORER || address(this).balance != 0) _checkRole(ANCHORER_ROLE);
        if (_roots[seq] != bytes32(0) || (seq != 0 && _roots[seq - 1] == bytes32(0))) {
            revert CustodyAnchorUnexpectedSeq(_nextSeq(), seq);
        }
        if (root == bytes32(0)) revert CustodyAnchorZeroRoot();
        if (leafCount == 0) revert CustodyAnchorEmptyBatch();

        _roots[seq] = root;
        emit BatchAnchored(seq, root, leafCount, uint64(block.timestamp));
    }

    /**
     * @notice The sequence number the next {anchorBatch} call must use, which is also the number of
     * batches anchored so far (batches `0 … nextSeq()-1` are anchored).
     * @dev Not stored: found by doubling then bisecting over the roots, about 2·log2(n) storage reads
     * (free in `eth_call`; 2,100 gas a read for a contract that calls it).
     */
    function nextSeq() external view returns (uint64) {
        return _nextSeq();
    }

    /**
     * @notice Closes the initial anchorer's shortcut for good: from now on it anchors through the
     * {ANCHORER_ROLE} lookup like any other account, and its role can be revoked or renounced. Needs
     * any non-zero value, which stays in the contract forever (nothing ever pays it out). Anyone may
     * call it: closing the shortcut only costs the anchorer 2,100 gas a batch. Emits {AnchorerShortcutClosed}.
     */
    function closeAnchorerShortcut() external payable {
        if (msg.value == 0) revert CustodyAnchorNoValue();
        emit AnchorerShortcutClosed(msg.sender, msg.value);
    }

    /// @notice Whether the initial anchorer still anchors without the role lookup (the contract holds no ether).
    function anchorerShortcutOpen() external view returns (bool) {
        return address(this).balance == 0;
    }

    /**
     * @notice The Merkle root of batch `seq`, or zero if that batch has not been anchored.
     * @param seq Sequence number of the batch.
     */
    function batchRoot(uint64 seq) external view returns (bytes32) {
        return _roots[seq];
    }

    /**
     * @notice Whether `proof` proves that `leaf` is in the tree of anchored batch `seq`; false if the
     * batch has not been anchored.
     * @dev Callers MUST derive `leaf` themselves from the event's values with {custodyLeaf} (or the same
     * computation off chain), never accept it as given: like every Merkle proof check, an inner node of
     * the tree also verifies, with a shorter proof. The double hashing of the standard leaf is what keeps
     * an inner node from being the leaf of any `(digest, sigHash, prevLeaf)`.
     * @param seq Sequence number of the batch.
     * @param leaf The leaf, as computed by {custodyLeaf}.
     * @param proof Sibling hashes from the leaf up to the root (sorted-pair hashing).
     */
    function verifyInclusion(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _roots[seq];
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /**
     * @notice The Merkle leaf of a custody event: the OpenZeppelin standard leaf over
     * `["bytes32","bytes32","bytes32"]`, i.e. `keccak256(bytes.concat(keccak256(abi.encode(digest,
     * sigHash, prevLeaf))))`.
     * @param digest EIP-712 digest of the signed `CustodyEvent`.
     * @param sigHash `keccak256(signature ‖ counterSignature)`.
     * @param prevLeaf Leaf of the same shipment's previous accepted event; zero for its first event.
     */
    function custodyLeaf(bytes32 digest, bytes32 sigHash, bytes32 prevLeaf) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(digest, sigHash, prevLeaf))));
    }

    /**
     * @notice The `custody-tree/2` root of a batch that carries a state: the sorted-pair hash of
     * `eventsRoot` and {stateCommitment}`(eventsRoot, stateRoot)`.
     * @dev One root commits to exactly one state: two openings `(e1, s1)`, `(e2, s2)` of the same root
     * need either `s1 == s2` or a cycle `e1 = c(c(e1, s1), s2)` of keccak256. Event proofs are event-tree
     * proofs followed by the commitment, so they check with {verifyInclusion} as in `custody-tree/1`.
     * @param eventsRoot Root of the batch's event tree (sorted-pair hashing).
     * @param stateRoot Root of the `custody-state/1` map after the batch.
     */
    function batchRootV2(bytes32 eventsRoot, bytes32 stateRoot) external pure returns (bytes32) {
        return _batchRootV2(eventsRoot, stateRoot);
    }

    /**
     * @notice The state commitment of a `custody-tree/2` batch: `keccak256(0x02 ‖ eventsRoot ‖ stateRoot)`,
     * the last element of every event proof in that batch.
     * @param eventsRoot Root of the batch's event tree.
     * @param stateRoot Root of the `custody-state/1` map after the batch.
     */
    function stateCommitment(bytes32 eventsRoot, bytes32 stateRoot) external pure returns (bytes32) {
        return _hash65(0x02, eventsRoot, stateRoot);
    }

    /**
     * @notice The `custody-state/1` leaf of `key` with value hash `valueHash`:
     * `keccak256(abi.encodePacked(bytes1(0x00), key, valueHash))`.
     * @param key Record key, e.g. from {shipmentStateKey} or {signingKeyStateKey}.
     * @param valueHash Record value hash (`keccak256(abi.encode(headLeaf, eventCount))` for a shipment, `keccak256(abi.encode(organization, validFromMs, revokedAtMs))` for a key).
     */
    function stateLeafHash(bytes32 key, bytes32 valueHash) external pure returns (bytes32) {
        return _hash65(0x00, key, valueHash);
    }

    /**
     * @notice The `custody-state/1` root that `siblings` prove for the record `(key, valueHash)`. Callers
     * compare it with a trusted state root, as {verifyShipmentHead} and {verifySigningKey} do.
     * @dev `siblings[d]` is the sibling at depth `d + 1`; the fold starts at the record's leaf and takes
     * the siblings from the last to the first. Bit `d` of `key` (most significant first) says whether the
     * path goes left (0: `keccak256(0x01 ‖ node ‖ sibling)`) or right (1: `keccak256(0x01 ‖ sibling ‖ node)`)
     * below depth `d`. An empty proof proves a map with that one record. Reverts with
     * {CustodyAnchorProofTooLong} for more than 256 siblings.
     * @param key Record key.
     * @param valueHash Record value hash.
     * @param siblings Sibling hashes from the root down to the record's leaf.
     */
    function stateRootFromProof(bytes32 key, bytes32 valueHash, bytes32[] calldata siblings) external pure returns (bytes32) {
        if (siblings.length > _MAX_STATE_PROOF_LENGTH) revert CustodyAnchorProofTooLong(siblings.length);
        return _stateRootFromProof(key, valueHash, siblings);
    }

    /**
     * @notice The `custody-state/1` key of a shipment:
     * `keccak256(abi.encode("custody-state/1:shipment", carrier, trackingNumber))`.
     * @param carrier Slug of the carrier that issued the tracking number.
     * @param trackingNumber The shipment's tracking number.
     */
    function shipmentStateKey(string calldata carrier, string calldata trackingNumber) external pure returns (bytes32) {
        return _shipmentStateKey(carrier, trackingNumber);
    }

    /**
     * @notice The `custody-state/1` key of a signing key: `keccak256(abi.encode("custody-state/1:key", signer))`.
     * @param signer Address of the device or organization signing key.
     */
    function signingKeyStateKey(address signer) external pure returns (bytes32) {
        return _signingKeyStateKey(signer);
    }

    /**
     * @notice Whether batch `seq` is anchored with the `custody-tree/2` root of `eventsRoot` and
     * `stateRoot`, i.e. its root is non-zero and equals {batchRootV2}`(eventsRoot, stateRoot)`.
     * @dev False for a batch that has not been anchored and for a batch anchored with a
     * `custody-tree/1` root (no events root and state root hash to it).
     * @param seq Sequence number of the batch.
     * @param eventsRoot Root of the batch's event tree.
     * @param stateRoot Root of the `custody-state/1` map after the batch.
     */
    function verifyState(uint64 seq, bytes32 eventsRoot, bytes32 stateRoot) external view returns (bool) {
        return _verifyState(seq, eventsRoot, stateRoot);
    }

    /**
     * @notice Whether batch `seq` committed to a state in which shipment `(carrier, trackingNumber)` has
     * head leaf `headLeaf` and `eventCount` accepted events.
     * @dev True iff {verifyState}`(seq, eventsRoot, stateRoot)` and `siblings` prove the record
     * `(`{shipmentStateKey}`, keccak256(abi.encode(headLeaf, eventCount)))` against `stateRoot`. Returns false (does not
     * revert) for more than 256 siblings. The record is the ledger's statement as of that batch; a later
     * batch may carry a newer head. To settle on an event, also check the head event itself (its fields,
     * signature and {custodyLeaf}) and, with {verifyInclusion}, that it is in an anchored batch.
     * @param seq Sequence number of the batch.
     * @param eventsRoot Root of the batch's event tree.
     * @param stateRoot Root of the `custody-state/1` map after the batch.
     * @param carrier Slug of the carrier that issued the tracking number.
     * @param trackingNumber The shipment's tracking number.
     * @param headLeaf Leaf of the shipment's latest accepted event.
     * @param eventCount Number of the shipment's accepted events.
     * @param siblings The record's `custody-state/1` proof.
     */
    function verifyShipmentHead(
        uint64 seq,
        bytes32 eventsRoot,
        bytes32 stateRoot,
        string calldata carrier,
        string calldata trackingNumber,
        bytes32 headLeaf,
        uint64 eventCount,
        bytes32[] calldata siblings
    ) external view returns (bool) {
        return
            _verifyStateRecord(
                seq,
                eventsRoot,
                stateRoot,
                _shipmentStateKey(carrier, trackingNumber),
                _shipmentStateValue(headLeaf, eventCount),
                siblings
            );
    }

    /**
     * @notice Whether batch `seq` committed to a state in which signing key `signer` is registered to
     * `organization`, valid from `validFromMs` and revoked at `revokedAtMs` (0: not revoked).
     * @dev True iff {verifyState}`(seq, eventsRoot, stateRoot)` and `siblings` prove the record
     * `(`{signingKeyStateKey}`, keccak256(abi.encode(organization, validFromMs, revokedAtMs)))` against `stateRoot`. Returns false (does not
     * revert) for more than 256 siblings. A key revoked after batch `seq` still shows `revokedAtMs` 0
     * here: use the latest batch when revocation matters.
     * @param seq Sequence number of the batch.
     * @param eventsRoot Root of the batch's event tree.
     * @param stateRoot Root of the `custody-state/1` map after the batch.
     * @param signer Address of the signing key.
     * @param organization Slug of the organization the key is registered to.
     * @param validFromMs Unix milliseconds from which the key signs for the organization.
     * @param revokedAtMs Unix milliseconds at which the key was revoked; 0 if it has not been revoked.
     * @param siblings The record's `custody-state/1` proof.
     */
    function verifySigningKey(
        uint64 seq,
        bytes32 eventsRoot,
        bytes32 stateRoot,
        address signer,
        string calldata organization,
        uint64 validFromMs,
        uint64 revokedAtMs,
        bytes32[] calldata siblings
    ) external view returns (bool) {
        return
            _verifyStateRecord(
                seq,
                eventsRoot,
                stateRoot,
                _signingKeyStateKey(signer),
                _signingKeyStateValue(organization, validFromMs, revokedAtMs),
                siblings
            );
    }

    /**
     * @notice Proves that the anchoring party contradicted itself: in the later state, shipment
     * `(carrier, trackingNumber)` has fewer events than in the earlier one, or as many with another head.
     * Heads only move forward (a correction is a new event), so such a pair rewrote history. Anyone
     * holding an earlier bundle can call this; from then on {contradictedAt} is non-zero and
     * verifiers refuse this contract's states.
     * @dev Reverts with {CustodyAnchorNoContradiction} unless `earlier.seq < later.seq`, both records
     * verify ({verifyShipmentHead}) and they contradict. Emits {StateContradictionProven}.
     */
    function proveShipmentContradiction(
        StateRef calldata earlier,
        ShipmentRecord calldata a,
        StateRef calldata later,
        ShipmentRecord calldata b,
        string calldata carrier,
        string calldata trackingNumber
    ) external {
        bytes32 key = _shipmentStateKey(carrier, trackingNumber);
        bool contradicts = b.eventCount < a.eventCount || (b.eventCount == a.eventCount && b.headLeaf != a.headLeaf);
        if (
            earlier.seq >= later.seq || !contradicts ||
            !_verifyStateRecord(earlier.seq, earlier.eventsRoot, earlier.stateRoot, key, _shipmentStateValue(a.headLeaf, a.eventCount), a.siblings) ||
            !_verifyStateRecord(later.seq, later.eventsRoot, later.stateRoot, key, _shipmentStateValue(b.headLeaf, b.eventCount), b.siblings)
        ) revert CustodyAnchorNoContradiction();
        _contradicted(earlier.seq, later.seq, key);
    }

    /**
     * @notice Proves that the anchoring party contradicted itself on signing key `signer`: the later
     * state gives it another organization or another valid-from time, or undoes or moves its revocation.
     * A key is registered once and revoked at most once, so such a pair rewrote the key registry.
     * @dev Reverts with {CustodyAnchorNoContradiction} unless `earlier.seq < later.seq`, both records
     * verify ({verifySigningKey}) and they contradict. Emits {StateContradictionProven}.
     */
    function proveKeyContradiction(StateRef calldata earlier, KeyRecord calldata a, StateRef calldata later, KeyRecord calldata b, address signer) external {
        bytes32 key = _signingKeyStateKey(signer);
        bool contradicts = keccak256(bytes(a.organization)) != keccak256(bytes(b.organization)) || a.validFromMs != b.validFromMs ||
            (a.revokedAtMs != 0 && a.revokedAtMs != b.revokedAtMs);
        if (
            earlier.seq >= later.seq || !contradicts ||
            !_verifyStateRecord(earlier.seq, earlier.eventsRoot, earlier.stateRoot, key, _signingKeyStateValue(a.organization, a.validFromMs, a.revokedAtMs), a.siblings) ||
            !_verifyStateRecord(later.seq, later.eventsRoot, later.stateRoot, key, _signingKeyStateValue(b.organization, b.validFromMs, b.revokedAtMs), b.siblings)
        ) revert CustodyAnchorNoContradiction();
        _contradicted(earlier.seq, later.seq, key);
    }

    /**
     * @notice 1 + the later batch of the first contradiction proven with {proveShipmentContradiction}
     * or {proveKeyContradiction}; 0 while none has been. Non-zero: the states this contract holds
     * prove nothing about completeness or keys.
     */
    function contradictedAt() external view returns (uint64) {
        return _contradictedAt;
    }

    /**
     * @dev Refuses to take ANCHORER_ROLE from the initial anchorer while its shortcut is open (it
     * would still anchor through it), then revokes as AccessControl does.
     */
    function _revokeRole(bytes32 role, address account) internal override returns (bool) {
        if (role == ANCHORER_ROLE && account == _INITIAL_ANCHORER && address(this).balance == 0) revert CustodyAnchorShortcutOpen(account);
        return super._revokeRole(role, account);
    }

    /// @dev See {nextSeq}: the first seq whose root is zero (the anchored seqs are always `0 … n-1`).
    function _nextSeq() private view returns (uint64) {
        if (_roots[0] == bytes32(0)) return 0;
        // anchored: lo; not anchored: hi (2^64 stands for "past every uint64")
        uint256 lo = 0;
        uint256 hi = 1;
        while (hi <= type(uint64).max && _roots[uint64(hi)] != bytes32(0)) {
            lo = hi;
            hi = 2 * hi + 1;
        }
        if (hi > type(uint64).max) hi = uint256(type(uint64).max) + 1;
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (_roots[uint64(mid)] != bytes32(0)) lo = mid;
            else hi = mid;
        }
        return uint64(hi);
    }

    /// @dev Records the first contradiction proven and emits {StateContradictionProven}.
    function _contradicted(uint64 earlierSeq, uint64 laterSeq, bytes32 key) private {
        if (_contradictedAt == 0) _contradictedAt = laterSeq + 1;
        emit StateContradictionProven(earlierSeq, laterSeq, key);
    }

    /// @dev See {verifyState}.
    function _verifyState(uint64 seq, bytes32 eventsRoot, bytes32 stateRoot) private view returns (bool) {
        bytes32 root = _roots[seq];
        return root != bytes32(0) && root == _batchRootV2(eventsRoot, stateRoot);
    }

    /// @dev custody-tree/2: the sorted pair of the events root and the state commitment.
    function _batchRootV2(bytes32 eventsRoot, bytes32 stateRoot) private pure returns (bytes32) {
        return Hashes.commutativeKeccak256(eventsRoot, _hash65(0x02, eventsRoot, stateRoot));
    }

    /// @dev {verifyState}, and `siblings` prove `(key, valueHash)` against `stateRoot`; false for an over-long proof.
    function _verifyStateRecord(
        uint64 seq,
        bytes32 eventsRoot,
        bytes32 stateRoot,
        bytes32 key,
        bytes32 valueHash,
        bytes32[] calldata siblings
    ) private view returns (bool) {
        if (siblings.length > _MAX_STATE_PROOF_LENGTH) return false;
        return _verifyState(seq, eventsRoot, stateRoot) && _stateRootFromProof(key, valueHash, siblings) == stateRoot;
    }

    /// @dev See {stateRootFromProof}; the caller checks the length.
    function _stateRootFromProof(bytes32 key, bytes32 valueHash, bytes32[] calldata siblings) private pure returns (bytes32 node) {
        node = _hash65(0x00, key, valueHash);
        uint256 k = uint256(key);
        for (uint256 depth = siblings.length; depth > 0; ) {
            unchecked {
                --depth;
            }
            // bit `depth` of the key, most significant first; depth <= 255 here
            node = (k >> (255 - depth)) & 1 == 0 ? _hash65(0x01, node, siblings[depth]) : _hash65(0x01, siblings[depth], node);
        }
    }

    /// @dev See {shipmentStateKey}.
    function _shipmentStateKey(string calldata carrier, string calldata trackingNumber) private pure returns (bytes32) {
        return keccak256(abi.encode(_SHIPMENT_KEY_TAG, carrier, trackingNumber));
    }

    /// @dev The `custody-state/1` value hash of a shipment: `keccak256(abi.encode(headLeaf, eventCount))`.
    function _shipmentStateValue(bytes32 headLeaf, uint64 eventCount) private pure returns (bytes32) {
        return keccak256(abi.encode(headLeaf, eventCount));
    }

    /// @dev See {signingKeyStateKey}.
    function _signingKeyStateKey(address signer) private pure returns (bytes32) {
        return keccak256(abi.encode(_SIGNING_KEY_TAG, signer));
    }

    /// @dev The `custody-state/1` value hash of a signing key: `keccak256(abi.encode(organization, validFromMs, revokedAtMs))`, `revokedAtMs` 0 if never revoked.
    function _signingKeyStateValue(string calldata organization, uint64 validFromMs, uint64 revokedAtMs) private pure returns (bytes32) {
        return keccak256(abi.encode(organization, validFromMs, revokedAtMs));
    }

    /// @dev `keccak256(abi.encodePacked(prefix, a, b))`, hashed in scratch memory above the free memory pointer.
    function _hash65(uint8 prefix, bytes32 a, bytes32 b) private pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, prefix)
            mstore(add(ptr, 1), a)
            mstore(add(ptr, 33), b)
            result := keccak256(ptr, 65)
        }
    }
}
