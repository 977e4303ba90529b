//! Authentication method modes (the `authenticationMethodModes` flags an authentication
//! strength's `allowedCombinations` are written in) and how the registration-details report
//! shows that a user holds one.
//!
//! The modes and the built-in strengths are VERIFIED (conditional-access FACTS items 6, 9; the
//! enum in `graph/schema.json`). The mapping to the report's `methodsRegistered` values is an
//! INFERENCE, like the one in [`crate::msgraph::order`] (FACTS §6, §12): Microsoft documents
//! no such mapping, and the report cannot tell apart what a mode distinguishes (a one-time
//! from a multi-use Temporary Access Pass, a single- from a multi-factor certificate), so a
//! registered value stands for every mode it may provide.

/// The id of the built-in "Multifactor authentication" strength (FACTS item 6).
pub const MULTIFACTOR_STRENGTH: &str = "00000000-0000-0000-0000-000000000002";

/// The id of the built-in "Phishing resistant MFA" strength (FACTS item 6).
pub const PHISHING_RESISTANT_STRENGTH: &str = "00000000-0000-0000-0000-000000000004";

/// How the registration-details report shows that a user holds a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeSource {
    /// Every user is taken to hold it: the password, which the report does not list.
    Everyone,
    /// A user holds it when they registered one of these `methodsRegistered` values.
    Registered(&'static [&'static str]),
    /// The report cannot show it: federated sign-in happens at the identity provider.
    NotReported,
}

const PASSKEYS: &[&str] = &[
    "fido2",
    "fido2SecurityKey",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "passKeyDeviceBoundWindowsHello",
    "passKeySynced",
];
const PHONES: &[&str] = &["mobilePhone", "alternateMobilePhone", "officePhone"];

/// Every mode of `authenticationMethodModes` except `unknownFutureValue`, with how a user is
/// seen to hold it. A mode not in this table holds for nobody.
#[rustfmt::skip]
pub const AUTHENTICATION_METHOD_MODES: &[(&str, ModeSource)] = &[
    ("password", ModeSource::Everyone),
    ("voice", ModeSource::Registered(PHONES)),
    ("hardwareOath", ModeSource::Registered(&["hardwareOneTimePasscode"])),
    ("softwareOath", ModeSource::Registered(&["softwareOneTimePasscode"])),
    ("sms", ModeSource::Registered(&["mobilePhone"])),
    ("fido2", ModeSource::Registered(PASSKEYS)),
    // macOS Platform SSO's Secure Enclave key is offered where Windows Hello for Business is.
    ("windowsHelloForBusiness", ModeSource::Registered(&["windowsHelloForBusiness", "macOsSecureEnclaveKey"])),
    ("microsoftAuthenticatorPush", ModeSource::Registered(&["microsoftAuthenticatorPush"])),
    ("deviceBasedPush", ModeSource::Registered(&["microsoftAuthenticatorPasswordless"])),
    ("temporaryAccessPassOneTime", ModeSource::Registered(&["temporaryAccessPass"])),
    ("temporaryAccessPassMultiUse", ModeSource::Registered(&["temporaryAccessPass"])),
    ("email", ModeSource::Registered(&["email"])),
    ("x509CertificateSingleFactor", ModeSource::Registered(&["certificateBasedAuthentication"])),
    ("x509CertificateMultiFactor", ModeSource::Registered(&["certificateBasedAuthentication"])),
    ("federatedSingleFactor", ModeSource::NotReported),
    ("federatedMultiFactor", ModeSource::NotReported),
    ("qrCodePin", ModeSource::Registered(&["qrCode"])),
];

/// How the report shows a mode (exact, case-sensitive, as Graph spells it: FACTS item 9);
/// `None` for a mode mfactl does not know.
pub fn mode_source(mode: &str) -> Option<ModeSource> {
    AUTHENTICATION_METHOD_MODES
        .iter()
        .find(|(name, _)| *name == mode)
        .map(|(_, source)| *source)
}

/// The modes of one allowed combination: `"password, sms"` as written on create and
/// `"password,sms"` as read back are the same two modes (FACTS item 9).
pub fn combination_modes(combination: &str) -> impl Iterator<Item = &str> {
    combination
        .split(',')
        .map(str::trim)
        .filter(|mode| !mode.is_empty())
}
