//! TOTP (RFC 6238) over a token's Base32 secret: how the emulator checks an activation's
//! `verificationCode`, and how a test computes the code a token would show.

use ring::hmac;

use crate::emulator::state::HardwareOathDevice;

/// Codes of the previous and next time step are accepted too (clock drift).
const DRIFT_STEPS: i64 = 1;

/// The six-digit code of a token with this Base32 secret, hash function (`hmacsha1` or
/// `hmacsha256`) and interval at `unix_seconds`; `None` when the secret is not Base32.
pub fn code(secret: &str, hash_function: &str, interval: u32, unix_seconds: u64) -> Option<String> {
    let key = base32(secret)?;
    let algorithm = if hash_function == "hmacsha256" {
        hmac::HMAC_SHA256
    } else {
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
    };
    let counter = unix_seconds / u64::from(interval.max(1));
    let tag = hmac::sign(&hmac::Key::new(algorithm, &key), &counter.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest.last()? & 0x0f);
    let window = digest.get(offset..offset + 4)?;
    let value = u32::from_be_bytes([window[0] & 0x7f, window[1], window[2], window[3]]);
    Some(format!("{:06}", value % 1_000_000))
}

/// Whether `candidate` is the device's code now, one step before or one after.
pub(super) fn verify(d: &HardwareOathDevice, candidate: &str, unix_seconds: u64) -> bool {
    let interval = i64::from(d.time_interval_in_seconds.max(1));
    (-DRIFT_STEPS..=DRIFT_STEPS).any(|step| {
        let at = (unix_seconds as i64).saturating_add(step * interval).max(0);
        code(
            &d.secret_key,
            &d.hash_function,
            d.time_interval_in_seconds,
            at.unsigned_abs(),
        )
        .is_some_and(|c| c == candidate)
    })
}

/// RFC 4648 Base32 without padding, case-insensitive.
fn base32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c.to_ascii_uppercase() {
            b @ b'A'..=b'Z' => b - b'A',
            b @ b'2'..=b'7' => b - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1, T = 59: 94287082 → the last six digits.
    #[test]
    fn rfc_6238_sha1_vector() {
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890"
        assert_eq!(code(secret, "hmacsha1", 30, 59).as_deref(), Some("287082"));
        assert_eq!(
            code(secret, "hmacsha1", 30, 1_111_111_109).as_deref(),
            Some("081804")
        );
    }

    #[test]
    fn not_base32_has_no_code() {
        assert_eq!(code("not-base32!", "hmacsha1", 30, 59), None);
    }
}
