//! A certificate's validity period (notBefore, notAfter), read from its DER: the
//! few TLV steps into `tbsCertificate.validity`, so that an expired certificate
//! can be named with its date at start and at each reload.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a certificate starts and stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// Reads the validity of a DER certificate; `None` when it is not one.
    pub fn of_der(der: &[u8]) -> Option<Validity> {
        let (cert, _) = tlv(der, SEQUENCE)?;
        let (tbs, _) = tlv(cert, SEQUENCE)?;
        let mut rest = tbs;
        // [0] EXPLICIT version, optional.
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest, 0xa0)?.1;
        }
        // serialNumber, signature, issuer.
        rest = tlv(rest, INTEGER)?.1;
        rest = tlv(rest, SEQUENCE)?.1;
        rest = tlv(rest, SEQUENCE)?.1;
        let (validity, _) = tlv(rest, SEQUENCE)?;
        let (not_before, after) = time(validity)?;
        let (not_after, _) = time(after)?;
        Some(Validity {
            not_before,
            not_after,
        })
    }

    /// Whether `now` is past the end.
    pub fn expired(&self, now: SystemTime) -> bool {
        now > self.not_after
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the TLV at the front of `input` if its tag is `tag`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (len, rest) = length(rest)?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A DER length (short form, or long form of up to four bytes).
fn length(input: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first < 0x80 {
        return Some((usize::from(first), rest));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((len, &rest[n..]))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(input: &[u8]) -> Option<(SystemTime, &[u8])> {
    let (&tag, _) = input.split_first()?;
    let (text, rest) = tlv(input, tag)?;
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, tail) = match tag {
        UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if tail.last() != Some(&b'Z') {
        return None;
    }
    let (month, day) = (digits(&tail[0..2])?, digits(&tail[2..4])?);
    let (h, m, s) = (
        digits(&tail[4..6])?,
        digits(&tail[6..8])?,
        digits(&tail[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let at = match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
    };
    Some((at, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("test certificate")
            .to_vec()
    }

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).expect("test date")
    }

    #[test]
    fn an_expired_certificate_s_dates_are_read() {
        let v =
            Validity::of_der(&der(include_str!("../tests/data/expired.pem"))).expect("validity");
        assert_eq!(v.not_before, at("2020-01-01T00:00:00Z"));
        assert_eq!(v.not_after, at("2021-01-01T00:00:00Z"));
        assert!(v.expired(at("2026-12-07T00:00:00Z")));
    }

    #[test]
    fn a_generalized_time_after_2049_is_read() {
        // The long-lived test leaf ends in 2126: GeneralizedTime.
        let v = Validity::of_der(&der(include_str!("../tests/data/shoal.pem"))).expect("validity");
        assert!(v.not_after > at("2100-01-01T00:00:00Z"));
        assert!(!v.expired(at("2026-12-07T00:00:00Z")));
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(Validity::of_der(b""), None);
        assert_eq!(
            Validity::of_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(Validity::of_der(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
