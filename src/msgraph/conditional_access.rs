//! What Graph is for Conditional Access (`shared/graph/conditional-access/FACTS.md`): the
//! built-in authentication strengths, the special location ids, the admin role templates,
//! the licence service plans, the 1 request per second limit and the service's error texts.
//! Facts only: the emulator enforces them and the product plans with them.

use super::modes::{MULTIFACTOR_STRENGTH, PHISHING_RESISTANT_STRENGTH, combination_modes};

/// A built-in authentication strength (FACTS.md item 6): read-only, in every tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltInStrength {
    /// Its fixed id.
    pub id: &'static str,
    /// `displayName`.
    pub display_name: &'static str,
    /// `description`.
    pub description: &'static str,
    /// `allowedCombinations`, as Graph reads them back (no space after the comma).
    pub combinations: &'static [&'static str],
}

/// When the built-in strengths were created, as the documentation's list shows.
pub const BUILT_IN_STRENGTH_DATE: &str = "2021-12-01T00:00:00Z";

/// The built-in strengths, verbatim from `examples/authenticationStrengthPolicies.list.v1.response.json`.
pub const BUILT_IN_STRENGTHS: &[BuiltInStrength] = &[
    BuiltInStrength {
        id: MULTIFACTOR_STRENGTH,
        display_name: "Multifactor authentication",
        description: "Combinations of methods that satisfy strong authentication, such as a password + SMS",
        combinations: &[
            "windowsHelloForBusiness",
            "fido2",
            "x509CertificateMultiFactor",
            "deviceBasedPush",
            "temporaryAccessPassOneTime",
            "temporaryAccessPassMultiUse",
            "password,microsoftAuthenticatorPush",
            "password,softwareOath",
            "password,hardwareOath",
            "password,x509CertificateSingleFactor",
            "password,x509CertificateMultiFactor",
            "password,sms",
            "password,voice",
            "federatedMultiFactor",
            "microsoftAuthenticatorPush,federatedSingleFactor",
            "softwareOath,federatedSingleFactor",
            "hardwareOath,federatedSingleFactor",
            "sms,federatedSingleFactor",
            "voice,federatedSingleFactor",
        ],
    },
    BuiltInStrength {
        id: "00000000-0000-0000-0000-000000000003",
        display_name: "Passwordless MFA",
        description: "Passwordless methods that satisfy strong authentication, such as Passwordless sign-in with the Microsoft Authenticator",
        combinations: &[
            "windowsHelloForBusiness",
            "fido2",
            "x509CertificateMultiFactor",
            "deviceBasedPush",
        ],
    },
    BuiltInStrength {
        id: PHISHING_RESISTANT_STRENGTH,
        display_name: "Phishing resistant MFA",
        description: "Phishing resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
        combinations: &[
            "windowsHelloForBusiness",
            "fido2",
            "x509CertificateMultiFactor",
        ],
    },
];

/// The built-in strength with this id (case-insensitive).
pub fn built_in_strength(id: &str) -> Option<&'static BuiltInStrength> {
    BUILT_IN_STRENGTHS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

/// The built-in strength of this display name: Graph's (`Phishing resistant MFA`, FACTS.md
/// item 6) or the admin center's (`Phishing-resistant MFA`), without regard to case.
pub fn built_in_strength_named(name: &str) -> Option<&'static BuiltInStrength> {
    let plain = |s: &str| s.replace('-', " ").to_ascii_lowercase();
    let wanted = plain(name);
    BUILT_IN_STRENGTHS
        .iter()
        .find(|s| plain(s.display_name) == wanted)
}

/// Conditional Access policies, on v1.0 (FACTS.md item 1); one request a second per tenant
/// (item 53).
pub const POLICIES_PATH: &str = "/v1.0/identity/conditionalAccess/policies";

/// Named locations, on v1.0 (FACTS.md item 13); reads and writes are limited to one request
/// a second per tenant (item 53).
pub const NAMED_LOCATIONS_PATH: &str = "/v1.0/identity/conditionalAccess/namedLocations";

/// Authentication strengths, built-in and custom, on v1.0 (FACTS.md item 5).
pub const STRENGTHS_PATH: &str = "/v1.0/policies/authenticationStrengthPolicies";

/// The directory role templates, whose ids `includeRoles` and `excludeRoles` hold (FACTS.md
/// item 18).
pub const ROLE_TEMPLATES_PATH: &str = "/v1.0/directoryRoleTemplates";

/// Graph's keywords in `includeApplications` and `excludeApplications`, besides appIds
/// (FACTS.md item 19).
pub const APPLICATION_KEYWORDS: &[&str] = &["All", "Office365", "MicrosoftAdminPortals", "None"];

/// The properties of a `conditionalAccessPolicy` that Graph sets and a write may not carry
/// (FACTS.md item 16; `templateId` and `deletedDateTime` are server-set).
pub const POLICY_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "templateId",
    "deletedDateTime",
];

/// The properties of an `authenticationStrengthPolicy` that Graph sets and a write may not
/// carry.
pub const STRENGTH_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "policyType",
    "requirementsSatisfied",
];

/// A combination as Graph stores it: `"password, sms"` is written, `"password,sms"` read
/// back (FACTS.md item 9).
pub fn normalise_combination(combination: &str) -> String {
    combination_modes(combination).collect::<Vec<_>>().join(",")
}

/// Whether a (normalised) combination may appear in a strength: only the combinations of
/// the built-in "Multifactor authentication" strength are valid (FACTS.md item 9).
pub fn is_valid_combination(normalised: &str) -> bool {
    BUILT_IN_STRENGTHS[0].combinations.contains(&normalised)
}

/// Location ids a policy may name without a named location behind them: every location,
/// every trusted location, and the legacy "Multifactor authentication trusted IPs".
pub const SPECIAL_LOCATIONS: &[&str] =
    &["All", "AllTrusted", "00000000-0000-0000-0000-000000000000"];

/// The `displayName` prefix of the policies Microsoft deploys and manages (FACTS.md item 33).
pub const MANAGED_POLICY_PREFIX: &str = "Microsoft-managed: ";

/// The service's refusal of a body that does not fit the policy type (FACTS.md §H).
pub const POLICY_SCHEMA_MISMATCH: &str = "1007: Incoming ConditionalAccessPolicy object is null or does not match the schema of ConditionalAccessPolicy type.";

/// The service's refusal of risk conditions on a tenant without P2 (FACTS.md item 36).
pub const P2_FEATURES_REFUSED: &str = "1039: Cannot create or update policies with premium P2 features. Upgrade to a premium P2 license and try again.";

/// The service's refusal of an enabled policy while security defaults are on (FACTS.md
/// item 28, UNVERIFIED but reported consistently).
pub const SECURITY_DEFAULTS_ENABLED: &str = "Security Defaults is enabled in the tenant. You must disable Security defaults before enabling a Conditional Access policy.";

/// The service's refusal of `GuestsOrExternalUsers` in `includeUsers` beside the
/// `includeGuestsOrExternalUsers` object (FACTS.md item 18, peer-observed).
pub const GUESTS_COMBINED: &str =
    "'GuestsOrExternalUsers' cannot be combined with guestOrExternalUsers";

/// The service's refusal of a policy naming a location that does not exist (FACTS.md §H).
pub fn location_missing(id: &str) -> String {
    format!("1040: NamedLocation with id {id} does not exist in the directory.")
}

/// The service's refusal of combinations outside the catalogue (FACTS.md item 9).
pub fn invalid_combinations(combinations: &[String]) -> String {
    format!(
        "Invalid authentication method mode combination(s): {}",
        combinations.join(", ")
    )
}

/// The documented refusal of `allowedCombinations` in a strength PATCH (FACTS.md item 8).
pub const COMBINATIONS_NOT_PATCHABLE: &str = "You cannot update the allowed auth method combinations using this request. To do so, use the Update allowed combinations action.";

/// Conditional Access policies and named locations are limited to this many requests per
/// second per tenant, across all apps, and a 429 for them carries no `Retry-After`
/// (FACTS.md item 53).
pub const REQUESTS_PER_SECOND_PER_TENANT: f64 = 1.0;

/// Whether a path (segments after the version) reaches a resource under the 1 request per
/// second limit: policies, named locations and their deleted items.
pub fn is_rate_limited_path(segments: &[&str]) -> bool {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    matches!(
        lower
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        [
            "identity",
            "conditionalaccess",
            "policies" | "namedlocations" | "deleteditems",
            ..
        ]
    )
}

/// One admin role template: `(id, displayName, description)`.
pub type RoleTemplate = (&'static str, &'static str, &'static str);

/// The 14 admin roles of the "all admin roles" policies (FACTS.md item 35), with their
/// names and descriptions from Microsoft's built-in roles reference
/// (MicrosoftDocs/entra-docs `docs/identity/role-based-access-control/permissions-reference.md`).
pub const ADMIN_ROLE_TEMPLATES: &[RoleTemplate] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
        "Can manage all aspects of the SharePoint service.",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        "Can manage all aspects of the Exchange product.",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
        "Can manage Conditional Access capabilities.",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
        "Can perform common billing related tasks like updating payment information.",
    ),
    (
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
        "Can access to view, set and reset authentication method information for any non-admin user.",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps.",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
    ),
    (
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
        "Can reset passwords for non-administrators and Password Administrators.",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
        "Can access to view, set and reset authentication method information for any user (admin or non-admin).",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
        "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
    ),
];

/// The Global Administrator role template id.
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// A licence product as `subscribedSkus` lists it: `(skuPartNumber, skuId, servicePlanName,
/// servicePlanId)`.
pub type LicenceSku = (&'static str, &'static str, &'static str, &'static str);

/// Microsoft Entra ID P1: the service plan `AAD_PREMIUM` that peers check (FACTS.md item 36).
pub const SKU_P1: LicenceSku = (
    "AAD_PREMIUM",
    "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
    "AAD_PREMIUM",
    "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
);

/// Microsoft Entra ID P2, whose SKU also carries the P1 plan; `AAD_PREMIUM_P2` is what
/// peers check for risk-based policies.
pub const SKU_P2: LicenceSku = (
    "AAD_PREMIUM_P2",
    "84a661c4-e949-4bd2-a560-ed7766fcaf2b",
    "AAD_PREMIUM_P2",
    "eec0eb4f-6444-4f95-aba0-50c24d67f998",
);

/// The Conditional Access templates, verbatim from
/// `examples/conditionalAccessTemplates.list.v1.response.json` (v1.0 only).
pub const TEMPLATES_JSON: &str = include_str!("conditional-access-templates.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_normalised_and_checked_against_the_mfa_strength() {
        assert_eq!(normalise_combination("password, sms"), "password,sms");
        assert!(is_valid_combination(&normalise_combination(
            " password , sms "
        )));
        assert!(is_valid_combination("fido2"));
        assert!(!is_valid_combination("microsoftAuthenticatorPush"));
        assert!(!is_valid_combination("sms,password"));
    }

    #[test]
    fn only_policy_and_location_paths_are_rate_limited() {
        assert!(is_rate_limited_path(&[
            "identity",
            "conditionalAccess",
            "policies"
        ]));
        assert!(is_rate_limited_path(&[
            "identity",
            "ConditionalAccess",
            "namedLocations",
            "x"
        ]));
        assert!(is_rate_limited_path(&[
            "identity",
            "conditionalAccess",
            "deletedItems",
            "policies"
        ]));
        assert!(!is_rate_limited_path(&[
            "identity",
            "conditionalAccess",
            "templates"
        ]));
        assert!(!is_rate_limited_path(&[
            "policies",
            "authenticationStrengthPolicies"
        ]));
    }

    #[test]
    fn embedded_templates_are_the_documented_list() {
        let fixture = include_str!(
            "../../tests/fixtures/conditional-access-examples/conditionalAccessTemplates.list.v1.response.json"
        );
        assert_eq!(TEMPLATES_JSON, fixture);
    }

    #[test]
    fn templates_parse_and_name_admin_roles_of_the_list() {
        let v: serde_json::Value = serde_json::from_str(TEMPLATES_JSON).unwrap();
        let roles = &v["value"][0]["details"]["conditions"]["users"]["includeRoles"];
        for r in roles.as_array().unwrap() {
            let id = r.as_str().unwrap();
            assert!(
                ADMIN_ROLE_TEMPLATES.iter().any(|(t, _, _)| *t == id),
                "{id}"
            );
        }
        assert_eq!(ADMIN_ROLE_TEMPLATES.len(), 14);
        assert!(built_in_strength("00000000-0000-0000-0000-000000000004").is_some());
    }

    #[test]
    fn built_in_strengths_are_found_by_graphs_name_and_the_admin_centers() {
        for name in [
            "Phishing resistant MFA",
            "Phishing-resistant MFA",
            "phishing-resistant mfa",
        ] {
            assert_eq!(
                built_in_strength_named(name).map(|s| s.id),
                Some(PHISHING_RESISTANT_STRENGTH),
                "{name}"
            );
        }
        assert_eq!(
            built_in_strength_named("Multifactor authentication").map(|s| s.id),
            Some(MULTIFACTOR_STRENGTH)
        );
        assert!(built_in_strength_named("Phishing resistant").is_none());
    }
}
