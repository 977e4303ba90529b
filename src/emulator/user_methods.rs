//! `GET /users/{id | userPrincipalName}/authentication/methods` (v1.0 and beta): a user's
//! `methodsRegistered` listed as Graph's `authenticationMethod` subtypes, through the table
//! mfactl reads them back with (`msgraph::user_methods`), after the password every account
//! has. Served whatever the tenant's licence: only the registration-details report needs
//! P1 or P2.
//!
//! The shapes follow the documentation's resource pages and list example
//! (api-reference/v1.0/api/authentication-list-methods.md): fixed ids for the password, the
//! email and each phone type, secrets (`password`, `secretKey`, `temporaryAccessPass`)
//! always `null` on a read (FACTS-CA item 47), one method per type. Each version lists only
//! its own types: hardware OATH tokens on beta alone (FACTS-CA item 42). A Temporary Access
//! Pass created through Graph and activated hardware OATH tokens are listed as stored
//! (`hardware`); other types get placeholder properties.

use serde_json::{Map, Value, json};

use super::state::User;
use super::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::user_methods::{
    self, EMAIL_METHOD_ID, PASSWORD_METHOD_ID, PASSWORD_TYPE, UserMethodType,
};
use crate::support::rng::guid_from_bytes;

/// The list for one user (by object id or UPN); 404 for no such user.
pub fn list(version: ApiVersion, slot: &TenantSlot, key: &str) -> Result<ApiResponse, GraphError> {
    let i = slot
        .index
        .user(key)
        .ok_or_else(|| GraphError::not_found(key))?;
    let user = &slot.tenant.users[i];
    let created = json!(user.last_updated_date_time);
    let mut value = vec![typed(
        PASSWORD_TYPE,
        json!({"id": PASSWORD_METHOD_ID, "password": null, "createdDateTime": created}),
    )];
    let mut listed: Vec<&UserMethodType> = Vec::new();
    for registered in user.methods_registered.iter() {
        let Some(t) = user_methods::listed_as(registered) else {
            continue;
        };
        if (t.beta_only && version == ApiVersion::V1) || listed.contains(&t) {
            continue;
        }
        listed.push(t);
        match super::hardware::stored_methods(slot, i, t.odata_type) {
            Some(stored) => value.extend(stored),
            None => value.push(typed(t.odata_type, properties(t, user, &created))),
        }
    }
    Ok(ApiResponse::ok(json!({
        "@odata.context": format!(
            "https://graph.microsoft.com/{}/$metadata#users('{}')/authentication/methods",
            version.segment(),
            user.id
        ),
        "value": value,
    })))
}

/// `@odata.type` first, then the properties, as Graph writes them.
fn typed(odata_type: &str, properties: Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{odata_type}")),
    );
    if let Value::Object(mut m) = properties {
        out.append(&mut m);
    }
    Value::Object(out)
}

/// A stable id for a method without a documented fixed one: the same user and type always
/// get the same id.
fn derived_id(user: &User, odata_type: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}/{odata_type}", user.id).as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    guid_from_bytes(b)
}

fn properties(t: &UserMethodType, user: &User, created: &Value) -> Value {
    let id = derived_id(user, t.odata_type);
    match (t.odata_type, t.phone_type) {
        (_, Some(phone_type)) => json!({
            "id": user_methods::phone_method_id(phone_type),
            "phoneNumber": "+1 5555550100",
            "phoneType": phone_type,
            "smsSignInState": "notAllowedByPolicy",
        }),
        ("microsoftAuthenticatorAuthenticationMethod", _) => json!({
            "id": id, "displayName": "Phone", "deviceTag": "SoftwareTokenActivated",
            "phoneAppVersion": "6.2401.0119", "createdDateTime": created,
        }),
        ("fido2AuthenticationMethod", _) => json!({
            "id": id, "displayName": "Security key", "createdDateTime": created,
            "aaGuid": "2fc0579f-8113-47ea-b116-555a8db9202a", "model": "NFC key",
            "attestationCertificates": [], "attestationLevel": "attested",
        }),
        ("windowsHelloForBusinessAuthenticationMethod", _) => json!({
            "id": id, "displayName": "Laptop", "createdDateTime": created, "keyStrength": "normal",
        }),
        ("platformCredentialAuthenticationMethod", _) => json!({
            "id": id, "displayName": "MacBook", "createdDateTime": created,
            "keyStrength": "normal", "platform": "macOS",
        }),
        ("softwareOathAuthenticationMethod", _) => json!({"id": id, "secretKey": null}),
        ("temporaryAccessPassAuthenticationMethod", _) => json!({
            "id": id, "temporaryAccessPass": null, "createdDateTime": created,
            "startDateTime": created, "lifetimeInMinutes": 60, "isUsableOnce": true,
            "isUsable": true, "methodUsabilityReason": "EnabledByPolicy",
        }),
        ("emailAuthenticationMethod", _) => json!({
            "id": EMAIL_METHOD_ID, "emailAddress": user.user_principal_name,
        }),
        ("externalAuthenticationMethod", _) => json!({
            "id": id, "displayName": "External MFA", "createdDateTime": created,
        }),
        _ => json!({"id": id, "createdDateTime": created}),
    }
}
