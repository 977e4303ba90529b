//! The authentication methods policy as a fresh tenant has it, and its built-in method
//! configurations (FACTS.md §2–§5).

use serde_json::Value;

const DEFAULT_POLICY_JSON: &str = include_str!("default-policy.json");

/// The shortest Temporary Access Pass lifetime Graph accepts, in minutes (FACTS-CA item 47).
pub const TAP_MIN_LIFETIME_MINUTES: u32 = 10;
/// The longest Temporary Access Pass lifetime, 30 days in minutes (FACTS-CA item 47).
pub const TAP_MAX_LIFETIME_MINUTES: u32 = 43_200;

/// A fresh tenant's authentication methods policy.
pub fn default_policy() -> Value {
    // Compiled in and covered by tests: a parse failure is a build defect.
    #[allow(clippy::expect_used)]
    serde_json::from_str(DEFAULT_POLICY_JSON).expect("embedded default-policy.json parses")
}

/// The built-in method configurations: GET id, path segment and OData type.
pub struct ConfigurationKind {
    /// The id GET returns (PascalCase).
    pub id: &'static str,
    /// The documented request path segment (camelCase).
    pub segment: &'static str,
    /// Short OData type name.
    pub odata_type: &'static str,
}

/// Every built-in configuration (FACTS.md §3). External methods are keyed by GUID instead.
pub const CONFIGURATION_KINDS: &[ConfigurationKind] = &[
    ConfigurationKind {
        id: "Fido2",
        segment: "fido2",
        odata_type: "fido2AuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "MicrosoftAuthenticator",
        segment: "microsoftAuthenticator",
        odata_type: "microsoftAuthenticatorAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "Sms",
        segment: "sms",
        odata_type: "smsAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "Voice",
        segment: "voice",
        odata_type: "voiceAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "Email",
        segment: "email",
        odata_type: "emailAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "TemporaryAccessPass",
        segment: "temporaryAccessPass",
        odata_type: "temporaryAccessPassAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "SoftwareOath",
        segment: "softwareOath",
        odata_type: "softwareOathAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "HardwareOath",
        segment: "hardwareOath",
        odata_type: "hardwareOathAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "X509Certificate",
        segment: "x509Certificate",
        odata_type: "x509CertificateAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "QRCodePin",
        segment: "qrCodePin",
        odata_type: "qrCodePinAuthenticationMethodConfiguration",
    },
    ConfigurationKind {
        id: "VerifiableCredentials",
        segment: "verifiableCredentials",
        odata_type: "verifiableCredentialsAuthenticationMethodConfiguration",
    },
];
