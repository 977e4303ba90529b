//! Microsoft's system-preferred MFA order (FACTS.md §12), as data: a change in Microsoft's
//! order is a one-line update here, and both `mfactl explain` and the emulator's
//! registration-details report follow it.
//!
//! The mapping from the report's `methodsRegistered` values to ranks is not documented; the
//! table is the inference recorded in FACTS.md §12.

/// One way a registered method can satisfy MFA, in system-preferred order.
#[derive(Debug, Clone, Copy)]
pub struct RankedMethod {
    /// Rank in Microsoft's published order (1 = most preferred).
    pub rank: u8,
    /// The credential family as Microsoft names it.
    pub credential: &'static str,
    /// `methodsRegistered` values that provide it.
    pub registered: &'static [&'static str],
    /// Method configurations (short OData type) that allow it; any one suffices. Empty for
    /// credentials the authentication methods policy does not govern.
    pub configurations: &'static [&'static str],
    /// A Boolean property the configuration must also have set to true.
    pub requires: Option<&'static str>,
    /// The value the report puts in `systemPreferredAuthenticationMethods`.
    pub report_value: &'static str,
}

const TAP: &str = "temporaryAccessPassAuthenticationMethodConfiguration";
const FIDO2: &str = "fido2AuthenticationMethodConfiguration";
const X509: &str = "x509CertificateAuthenticationMethodConfiguration";
const AUTHENTICATOR: &str = "microsoftAuthenticatorAuthenticationMethodConfiguration";
const EXTERNAL: &str = "externalAuthenticationMethodConfiguration";
const SOFTWARE_OATH: &str = "softwareOathAuthenticationMethodConfiguration";
const HARDWARE_OATH: &str = "hardwareOathAuthenticationMethodConfiguration";
const SMS: &str = "smsAuthenticationMethodConfiguration";
const VOICE: &str = "voiceAuthenticationMethodConfiguration";

/// The `methodsRegistered` values of passkeys (FIDO2 security keys, Authenticator and synced
/// passkeys).
pub const PASSKEYS: &[&str] = &[
    "fido2SecurityKey",
    "fido2",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "passKeyDeviceBoundWindowsHello",
    "passKeySynced",
];

const fn row(
    rank: u8,
    report_value: &'static str,
    credential: &'static str,
    registered: &'static [&'static str],
    configurations: &'static [&'static str],
    requires: Option<&'static str>,
) -> RankedMethod {
    RankedMethod {
        rank,
        credential,
        registered,
        configurations,
        requires,
        report_value,
    }
}

/// Microsoft's system-preferred MFA order as of 2026-03-18 (FACTS.md §12), one row per way
/// to satisfy MFA. Rows of the same rank are tried in table order. First-factor-only
/// credentials (QR code, password) are left out because they never satisfy MFA.
#[rustfmt::skip]
pub const SYSTEM_PREFERRED_ORDER: &[RankedMethod] = &[
    row(1, "temporaryAccessPass", "Temporary Access Pass", &["temporaryAccessPass"], &[TAP], None),
    row(2, "fido2", "Passkey", PASSKEYS, &[FIDO2], None),
    row(2, "windowsHelloForBusiness", "Passkey (Windows Hello for Business, macOS Platform SSO)", &["windowsHelloForBusiness", "macOsSecureEnclaveKey"], &[], None),
    row(3, "x509Certificate", "Certificate-based authentication", &["certificateBasedAuthentication"], &[X509], None),
    row(4, "push", "Microsoft Authenticator notifications", &["microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless"], &[AUTHENTICATOR], None),
    row(5, "externalAuthMethod", "External MFA", &["externalAuthMethod"], &[EXTERNAL], None),
    row(6, "oath", "TOTP", &["softwareOneTimePasscode"], &[SOFTWARE_OATH, AUTHENTICATOR], None),
    row(6, "oath", "TOTP (hardware)", &["hardwareOneTimePasscode"], &[HARDWARE_OATH], None),
    row(7, "sms", "Telephony (SMS)", &["mobilePhone"], &[SMS], None),
    row(7, "voiceMobile", "Telephony (voice, mobile)", &["mobilePhone"], &[VOICE], None),
    row(7, "voiceAlternateMobile", "Telephony (voice, alternate mobile)", &["alternateMobilePhone"], &[VOICE], None),
    row(7, "voiceOffice", "Telephony (voice, office)", &["officePhone"], &[VOICE], Some("isOfficePhoneAllowed")),
];
