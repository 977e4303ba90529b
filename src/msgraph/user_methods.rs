//! A user's registered methods as `GET /users/{id}/authentication/methods` lists them, and
//! the registration-details report's `methodsRegistered` value each one stands for.
//!
//! The list is a collection of `authenticationMethod` subtypes, told apart by `@odata.type`
//! ("only the methods supported on this API version": the derived types of
//! `authenticationMethod` in `schema.json`; hardware OATH tokens are beta only, FACTS-CA
//! item 42). Its permission is UserAuthenticationMethod.Read.All for an application
//! [docs: api-reference/v1.0/api/authentication-list-methods.md]. Which report value a type
//! stands for is not documented: the table is mfactl's reading of the two vocabularies
//! (FACTS.md §6 and §12), and the emulator lists each user's `methodsRegistered` through
//! the same table, so that both sides agree.

use serde_json::Value;

use super::order::PASSKEYS;

/// One type of registered method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserMethodType {
    /// `@odata.type` without `#microsoft.graph.`.
    pub odata_type: &'static str,
    /// For `phoneAuthenticationMethod`, its `phoneType`.
    pub phone_type: Option<&'static str>,
    /// The `methodsRegistered` value a method of this type stands for.
    pub registered: &'static str,
    /// The `methodsRegistered` values listed as a method of this type.
    pub listed_for: &'static [&'static str],
    /// Whether only beta lists it.
    pub beta_only: bool,
}

const fn method(
    odata_type: &'static str,
    phone_type: Option<&'static str>,
    registered: &'static str,
    listed_for: &'static [&'static str],
    beta_only: bool,
) -> UserMethodType {
    UserMethodType {
        odata_type,
        phone_type,
        registered,
        listed_for,
        beta_only,
    }
}

/// Every type that stands for a `methodsRegistered` value. The password
/// ([`PASSWORD_TYPE`]) stands for none: it is not a second factor.
#[rustfmt::skip]
pub const USER_METHOD_TYPES: &[UserMethodType] = &[
    method("microsoftAuthenticatorAuthenticationMethod", None, "microsoftAuthenticatorPush", &["microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless"], false),
    method("phoneAuthenticationMethod", Some("mobile"), "mobilePhone", &["mobilePhone"], false),
    method("phoneAuthenticationMethod", Some("alternateMobile"), "alternateMobilePhone", &["alternateMobilePhone"], false),
    method("phoneAuthenticationMethod", Some("office"), "officePhone", &["officePhone"], false),
    method("fido2AuthenticationMethod", None, "fido2SecurityKey", PASSKEYS, false),
    method("windowsHelloForBusinessAuthenticationMethod", None, "windowsHelloForBusiness", &["windowsHelloForBusiness"], false),
    method("platformCredentialAuthenticationMethod", None, "macOsSecureEnclaveKey", &["macOsSecureEnclaveKey"], false),
    method("softwareOathAuthenticationMethod", None, "softwareOneTimePasscode", &["softwareOneTimePasscode"], false),
    method("hardwareOathAuthenticationMethod", None, "hardwareOneTimePasscode", &["hardwareOneTimePasscode"], true),
    method("temporaryAccessPassAuthenticationMethod", None, "temporaryAccessPass", &["temporaryAccessPass"], false),
    method("emailAuthenticationMethod", None, "email", &["email"], false),
    method("externalAuthenticationMethod", None, "externalAuthMethod", &["externalAuthMethod"], false),
    method("qrCodePinAuthenticationMethod", None, "qrCode", &["qrCode"], false),
];

/// The password every cloud account has: listed, but no second factor.
pub const PASSWORD_TYPE: &str = "passwordAuthenticationMethod";

/// The password method's id, the same for every user (resource page of
/// passwordAuthenticationMethod: "This is generally 28c10230-…").
pub const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

/// The email method's id, "always" this one (authentication-list-emailmethods).
pub const EMAIL_METHOD_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";

/// A phone method's id, one fixed id per `phoneType` (resource page of
/// phoneAuthenticationMethod).
pub fn phone_method_id(phone_type: &str) -> Option<&'static str> {
    match phone_type {
        "mobile" => Some("3179e48a-750b-4051-897c-87b9720928f7"),
        "alternateMobile" => Some("b6332ec1-7057-4abe-9331-3d72feddfe41"),
        "office" => Some("e37fc753-ff3b-4958-9484-eaa9425c82bc"),
        _ => None,
    }
}

/// The `methodsRegistered` value one listed method stands for; `None` for the password, for
/// a method that says it cannot be used (`isUsable: false`: a Temporary Access Pass not yet
/// valid, expired or outside the policy's reach, FACTS-CA item 47), and for types mfactl
/// does not know (Microsoft adds them: tolerated, like unknown report values).
pub fn registered_value(method: &Value) -> Option<&'static str> {
    if method["isUsable"] == Value::Bool(false) {
        return None;
    }
    let ty = method["@odata.type"].as_str()?;
    let short = ty.strip_prefix("#microsoft.graph.").unwrap_or(ty);
    let phone = method["phoneType"].as_str();
    USER_METHOD_TYPES
        .iter()
        .find(|t| {
            t.odata_type.eq_ignore_ascii_case(short)
                && (t.phone_type.is_none() || t.phone_type == phone)
        })
        .map(|t| t.registered)
}

/// The type a `methodsRegistered` value is listed as, if any lists it (the emulator's side;
/// `certificateBasedAuthentication` and `securityQuestion` are no listed method).
pub fn listed_as(registered: &str) -> Option<&'static UserMethodType> {
    USER_METHOD_TYPES
        .iter()
        .find(|t| t.listed_for.contains(&registered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_listed_type_stands_for_one_report_value() {
        let m = |ty: &str, phone: Option<&str>| {
            let mut v = json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": "x"});
            if let Some(p) = phone {
                v["phoneType"] = json!(p);
            }
            registered_value(&v)
        };
        assert_eq!(
            m("microsoftAuthenticatorAuthenticationMethod", None),
            Some("microsoftAuthenticatorPush")
        );
        assert_eq!(
            m("phoneAuthenticationMethod", Some("mobile")),
            Some("mobilePhone")
        );
        assert_eq!(
            m("phoneAuthenticationMethod", Some("alternateMobile")),
            Some("alternateMobilePhone")
        );
        assert_eq!(
            m("phoneAuthenticationMethod", Some("office")),
            Some("officePhone")
        );
        assert_eq!(m("phoneAuthenticationMethod", Some("fax")), None);
        assert_eq!(
            m("fido2AuthenticationMethod", None),
            Some("fido2SecurityKey")
        );
        assert_eq!(
            m("platformCredentialAuthenticationMethod", None),
            Some("macOsSecureEnclaveKey")
        );
        assert_eq!(m(PASSWORD_TYPE, None), None);
        assert_eq!(m("someFutureAuthenticationMethod", None), None);
        let tap = |usable: Value| {
            registered_value(&json!({
                "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
                "isUsable": usable, "methodUsabilityReason": "NotYetValid",
            }))
        };
        assert_eq!(tap(json!(true)), Some("temporaryAccessPass"));
        assert_eq!(
            tap(json!(false)),
            None,
            "a pass not yet valid is no method yet"
        );
        assert_eq!(registered_value(&json!({"id": "no type"})), None);
    }

    #[test]
    fn every_report_value_listed_reads_back_with_the_same_rank() {
        use crate::msgraph::order::SYSTEM_PREFERRED_ORDER;
        let rank = |v: &str| {
            SYSTEM_PREFERRED_ORDER
                .iter()
                .find(|r| r.registered.contains(&v))
                .map(|r| r.rank)
        };
        for t in USER_METHOD_TYPES {
            assert_eq!(listed_as(t.registered), Some(t));
            for v in t.listed_for {
                assert_eq!(
                    rank(v),
                    rank(t.registered),
                    "{v} listed as {}",
                    t.odata_type
                );
            }
        }
        assert_eq!(listed_as("certificateBasedAuthentication"), None);
    }
}
