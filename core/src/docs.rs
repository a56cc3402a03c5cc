//! How publication, readers and snapshots fit together (documentation only).
//!
//! ## One writer path, many readers
//!
//! ```text
//! config  --compile-->  CompiledTable  --publish-->  FlagTable (one atomic pointer)
//!                                                        |  acquire load per check
//!                                      Reader (per thread, pinned)  ->  check / explain
//!                                      Snapshot (one version)       ->  check / explain
//! ```
//!
//! * **Compile once per publication.** Everything a check needs is precomputed: integer
//!   thresholds, salt hashes, sorted target hash sets, CIDR masks, parsed constraints.
//! * **Check through a `Reader`.** Make one per thread (`table.reader()`) and keep it; it stays
//!   pinned in the epoch collector so the check pays no fence. A publication marks the kind
//!   bytes of the table it replaces as retired; the reader's check reads its slot's byte
//!   anyway, so that is how it notices a new table, then re-pins out of line, which lets old
//!   tables be freed.
//! * **Consistent snapshots.** A check sees one whole version. Several checks that must agree
//!   (all the flags consulted while importing one block) go through one
//!   [`Snapshot`](crate::Snapshot): `let s = reader.snapshot();` then `s.check(..)` for each.
//! * **Idle threads.** A reader that stops checking still holds its pin; call
//!   [`Reader::quiesce`](crate::ReaderOf::quiesce) before a long sleep, or drop it.
//! * **Identity.** Each publication gets the next generation; the publisher may attach the
//!   SHA-256 of its source file ([`CompiledTable::set_digest`](crate::CompiledTable::set_digest)),
//!   so an operator can prove which version a node answers from.
