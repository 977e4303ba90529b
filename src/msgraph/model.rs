//! The per-user vocabulary shared by the declared kinds, the plan and the simulation.

use serde::{Deserialize, Serialize};

/// Legacy per-user MFA (`strongAuthenticationRequirements.perUserMfaState`, beta).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PerUserMfaState {
    /// Not required by per-user MFA.
    Disabled,
    /// Enrolled: MFA is required once the user registers.
    Enabled,
    /// Required at every sign-in.
    Enforced,
}

impl PerUserMfaState {
    /// Every state, in the order documented.
    pub const ALL: [PerUserMfaState; 3] = [Self::Disabled, Self::Enabled, Self::Enforced];

    /// Graph's wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::Enforced => "enforced",
        }
    }

    /// From Graph's wire value (exact, as Graph sends it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The state Entra stores when this one is written for a user who has (or has not)
    /// registered an MFA method: "When you update a user's MFA state to `enabled` and the user
    /// has already registered an MFA method, their state changes automatically to `enforced`"
    /// (Microsoft's strongAuthenticationRequirements resource page, quoted in issue 15).
    pub fn as_stored(self, mfa_registered: bool) -> Self {
        match self {
            Self::Enabled if mfa_registered => Self::Enforced,
            other => other,
        }
    }
}

/// Whether a registration-report `methodsRegistered` value is an MFA method: what makes Entra
/// turn a per-user `enabled` into `enforced` ([`PerUserMfaState::as_stored`]). Email and
/// security questions serve password reset only, a QR code is a first factor, and a
/// Temporary Access Pass is no registration; every other value (new ones included) is.
pub fn is_mfa_registration(value: &str) -> bool {
    !matches!(
        value,
        "email" | "securityQuestion" | "temporaryAccessPass" | "qrCode"
    )
}

/// A user's default MFA method (`signInPreferences.userPreferredMethodForSecondaryAuthentication`,
/// type userDefaultAuthenticationMethodType, which has no `none`: FACTS.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PreferredMethod {
    /// Microsoft Authenticator notification.
    Push,
    /// A one-time code (Authenticator, software or hardware token).
    Oath,
    /// A call to the mobile phone.
    VoiceMobile,
    /// A call to the alternate mobile phone.
    VoiceAlternateMobile,
    /// A call to the office phone.
    VoiceOffice,
    /// A text message.
    Sms,
}

impl PreferredMethod {
    /// Every value, in the documented order.
    pub const ALL: [PreferredMethod; 6] = [
        Self::Push,
        Self::Oath,
        Self::VoiceMobile,
        Self::VoiceAlternateMobile,
        Self::VoiceOffice,
        Self::Sms,
    ];

    /// Graph's wire value, which is also the prompt method of [`crate::msgraph::order`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Oath => "oath",
            Self::VoiceMobile => "voiceMobile",
            Self::VoiceAlternateMobile => "voiceAlternateMobile",
            Self::VoiceOffice => "voiceOffice",
            Self::Sms => "sms",
        }
    }

    /// From Graph's wire value; `none`, `""` and unknown values are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The `methodsRegistered` values of which the user needs one for this default.
    pub fn needs(self) -> &'static [&'static str] {
        match self {
            Self::Push => &[
                "microsoftAuthenticatorPush",
                "microsoftAuthenticatorPasswordless",
            ],
            Self::Oath => &["softwareOneTimePasscode", "hardwareOneTimePasscode"],
            Self::VoiceMobile | Self::Sms => &["mobilePhone"],
            Self::VoiceAlternateMobile => &["alternateMobilePhone"],
            Self::VoiceOffice => &["officePhone"],
        }
    }
}
