//! The duration grammar of the API's parameters (`5m`, `1h30m`, `250ms`) and `since`
//! (a duration back from now, or unix milliseconds), with the patterns the OpenAPI
//! document gives them: the parser accepts exactly what the pattern matches.

use crate::error::ApiError;

/// A duration: one or more `NUMBER UNIT` terms, units `ms`, `s`, `m`, `h`, `d`.
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

/// `since`: unix milliseconds, or a duration back from now.
pub const SINCE_PATTERN: &str = "^([0-9]+|([0-9]+(ms|s|m|h|d))+)$";

/// Milliseconds of a duration in [`DURATION_PATTERN`] (sums and large numbers saturate);
/// `None` for anything else.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let mut rest = text.as_bytes();
    let mut total: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n = number(&rest[..digits]);
        rest = &rest[digits..];
        let (unit, len) = match rest {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            _ => return None,
        };
        rest = &rest[len..];
        total = total.saturating_add(n.saturating_mul(unit));
    }
    Some(total)
}

/// The unix milliseconds `since` names: itself when it is a number, else `now_ms` less
/// the duration (0 at the earliest).
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64, ApiError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(number(text.as_bytes()));
    }
    parse_duration_ms(text)
        .map(|d| now_ms.saturating_sub(d))
        .ok_or_else(|| {
            ApiError::bad_request(
                "`since` must be a duration like 5m or 1h30m (units ms, s, m, h, d) or unix milliseconds",
            )
            .detail(text.chars().take(64).collect::<String>())
        })
}

/// ASCII digits as a number, saturating.
fn number(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_sums_of_terms() {
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("5ms5s"), Some(5_005));
        assert_eq!(parse_duration_ms("0s"), Some(0));
        assert_eq!(
            parse_duration_ms("99999999999999999999999d"),
            Some(u64::MAX)
        );
        for bad in [
            "", "5", "m", "5 m", "5x", "1.5h", " 5m", "5m ", "5min", "-5m", "5M",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn since_is_millis_or_a_duration_back() {
        assert_eq!(parse_since("1000", 5000).ok(), Some(1000));
        assert_eq!(parse_since("2s", 5000).ok(), Some(3000));
        assert_eq!(parse_since("1d", 5000).ok(), Some(0));
        assert_eq!(
            parse_since("99999999999999999999999", 1).ok(),
            Some(u64::MAX)
        );
        for bad in ["", "yesterday", "-1", "5 m"] {
            assert!(parse_since(bad, 5000).is_err(), "{bad:?}");
        }
    }
}
