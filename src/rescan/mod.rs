//! Scheduled rescans: find drift on every registered target and heal it.
//!
//! A `rescan` with scope `all` (what the schedule sends) or `site` enumerates target records
//! through their indexes, page by page, and fans out one `rescan` with scope `target` per target
//! as queue messages, ten to a batch; a fan-out that runs short of time continues itself with a
//! cursor. Each target check reads the target's state in the customer's account, compares it
//! with what the target record says should be there, heals what drifted when asked, records what
//! it found on the target record, and counts itself on the rescan's record.

pub mod check;
pub mod enumerate;
pub mod fanout;
pub mod rotation;
pub mod target_state;
