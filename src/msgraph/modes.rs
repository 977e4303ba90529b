//! Authentication method modes (the `authenticationMethodModes` flags an authentication
//! strength's `allowedCombinations` are written in), how the registration-details report
//! shows that a user holds one, and which method configurations of the authentication
//! methods policy offer one.
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

/// Every mode of [`AUTHENTICATION_METHOD_MODES`], with the method configurations (their GET
/// ids, FACTS.md §3) that offer it: a user can use the mode when any one of them is enabled
/// for them. An empty list: no method configuration governs the mode — the password;
/// Windows Hello for Business, which is set up on the device, not in the methods policy;
/// federated sign-in, which happens at the identity provider. An INFERENCE like the report
/// mapping above: Microsoft documents no such table. A software OATH code comes from a
/// third-party app (SoftwareOath) or from Microsoft Authenticator's own codes, so either
/// configuration offers it.
#[rustfmt::skip]
pub const MODE_CONFIGURATIONS: &[(&str, &[&str])] = &[
    ("password", &[]),
    ("voice", &["Voice"]),
    ("hardwareOath", &["HardwareOath"]),
    ("softwareOath", &["SoftwareOath", "MicrosoftAuthenticator"]),
    ("sms", &["Sms"]),
    ("fido2", &["Fido2"]),
    ("windowsHelloForBusiness", &[]),
    ("microsoftAuthenticatorPush", &["MicrosoftAuthenticator"]),
    ("deviceBasedPush", &["MicrosoftAuthenticator"]),
    ("temporaryAccessPassOneTime", &["TemporaryAccessPass"]),
    ("temporaryAccessPassMultiUse", &["TemporaryAccessPass"]),
    ("email", &["Email"]),
    ("x509CertificateSingleFactor", &["X509Certificate"]),
    ("x509CertificateMultiFactor", &["X509Certificate"]),
    ("federatedSingleFactor", &[]),
    ("federatedMultiFactor", &[]),
    ("qrCodePin", &["QRCodePin"]),
];

/// The method configurations that offer a mode (exact, case-sensitive: FACTS item 9), as
/// [`MODE_CONFIGURATIONS`] lists them; `None` for a mode mfactl does not know.
pub fn mode_configurations(mode: &str) -> Option<&'static [&'static str]> {
    MODE_CONFIGURATIONS
        .iter()
        .find(|(name, _)| *name == mode)
        .map(|(_, ids)| *ids)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgraph::conditional_access::BUILT_IN_STRENGTHS;
    use crate::msgraph::methods::CONFIGURATION_KINDS;

    #[test]
    fn every_mode_is_offered_by_known_method_configurations() {
        let modes: Vec<&str> = AUTHENTICATION_METHOD_MODES
            .iter()
            .map(|(m, _)| *m)
            .collect();
        let offered: Vec<&str> = MODE_CONFIGURATIONS.iter().map(|(m, _)| *m).collect();
        assert_eq!(modes, offered, "one row per mode, in the same order");
        for (mode, ids) in MODE_CONFIGURATIONS {
            for id in *ids {
                assert!(
                    CONFIGURATION_KINDS.iter().any(|k| k.id == *id),
                    "{mode}: no method configuration `{id}`"
                );
            }
        }
        for strength in BUILT_IN_STRENGTHS {
            for mode in strength
                .combinations
                .iter()
                .flat_map(|c| combination_modes(c))
            {
                assert!(mode_configurations(mode).is_some(), "{mode}");
            }
        }
        assert_eq!(mode_configurations("fido2"), Some(&["Fido2"][..]));
        assert_eq!(
            mode_configurations("windowsHelloForBusiness"),
            Some(&[][..])
        );
        assert_eq!(
            mode_configurations("Fido2"),
            None,
            "modes are case-sensitive"
        );
    }
}
