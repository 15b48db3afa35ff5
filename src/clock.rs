//! Times as records write them: RFC 3339 UTC text, and epoch seconds or milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .expect("a SystemTime always formats as RFC 3339")
}

pub fn epoch_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

pub fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        let at = UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        assert_eq!(rfc3339(at), "2026-05-28T20:26:40.123Z");
        assert_eq!(epoch_secs(at), 1_780_000_000);
        assert_eq!(epoch_millis(at), 1_780_000_000_123);
    }
}
