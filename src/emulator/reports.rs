//! `reports/authenticationMethods/userRegistrationDetails`: one row per enabled user, computed
//! from the user's registered methods and the tenant's authentication methods policy.
//!
//! `systemPreferredAuthenticationMethods` follows Microsoft's published order (FACTS.md §12),
//! kept as data in [`SYSTEM_PREFERRED_ORDER`] so that a change in Microsoft's order is a
//! one-line update. The mapping from `methodsRegistered` values to ranks is not documented;
//! the table is the inference recorded in FACTS.md.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::directory::{annotate, entity_context};
use super::odata::{Field, FieldKind, Filter, Query, next_link};
use super::state::{Tenant, User};
use super::{ApiResponse, ApiVersion, GraphError, TenantSlot};
use crate::msgraph::order::{RankedMethod, SYSTEM_PREFERRED_ORDER};

const CONTEXT_BASE: &str = "https://graph.microsoft.com";
/// Default and maximum page size (undocumented for this report: FACTS.md §14).
const PAGE_SIZE: usize = 1000;

const PASSWORDLESS: &[&str] = &[
    "fido2SecurityKey",
    "fido2",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "passKeyDeviceBoundWindowsHello",
    "passKeySynced",
    "windowsHelloForBusiness",
    "macOsSecureEnclaveKey",
    "microsoftAuthenticatorPasswordless",
];

const SSPR_METHODS: &[&str] = &[
    "mobilePhone",
    "alternateMobilePhone",
    "officePhone",
    "email",
    "microsoftAuthenticatorPush",
    "softwareOneTimePasscode",
    "securityQuestion",
];

const FILTER_FIELDS: &[(&str, FieldKind)] = &[
    ("id", FieldKind::Str),
    ("userPrincipalName", FieldKind::Str),
    ("userDisplayName", FieldKind::Str),
    ("userType", FieldKind::Str),
    ("isAdmin", FieldKind::Bool),
    ("isMfaCapable", FieldKind::Bool),
    ("isMfaRegistered", FieldKind::Bool),
    ("isPasswordlessCapable", FieldKind::Bool),
    ("isSsprCapable", FieldKind::Bool),
    ("isSsprEnabled", FieldKind::Bool),
    ("isSsprRegistered", FieldKind::Bool),
    (
        "isSystemPreferredAuthenticationMethodEnabled",
        FieldKind::Bool,
    ),
    ("methodsRegistered", FieldKind::List),
    ("systemPreferredAuthenticationMethods", FieldKind::List),
];

/// Who a set of include/exclude targets covers, resolved once per request.
pub(super) struct Targeting {
    all: bool,
    groups: Vec<Arc<HashSet<usize>>>,
    users: HashSet<String>,
}

impl Targeting {
    /// Resolves include or exclude targets against the directory.
    pub(super) fn resolve(slot: &TenantSlot, targets: &Value) -> Self {
        let mut t = Targeting {
            all: false,
            groups: Vec::new(),
            users: HashSet::new(),
        };
        let list: Vec<&Value> = match targets {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![targets],
            _ => Vec::new(),
        };
        for target in list {
            let id = target["id"].as_str().unwrap_or_default();
            if id == "all_users" {
                t.all = true;
            } else if target["targetType"] == "user" {
                t.users.insert(id.to_ascii_lowercase());
            } else if let Some(g) = slot.index.group(id) {
                t.groups.push(slot.index.user_set(&slot.tenant, g));
            }
        }
        t
    }

    /// Whether the targets reach this user (by index into the tenant's users).
    pub(super) fn covers(&self, index: usize, user: &User) -> bool {
        self.all
            || self.groups.iter().any(|g| g.contains(&index))
            || (!self.users.is_empty() && self.users.contains(&user.id.to_ascii_lowercase()))
    }
}

/// A method configuration's reach: enabled state, includes and excludes.
struct Reach {
    odata_type: String,
    /// Boolean properties of the configuration that are true.
    flags: Vec<String>,
    enabled: bool,
    include: Targeting,
    exclude: Targeting,
}

impl Reach {
    fn allows(&self, index: usize, user: &User) -> bool {
        self.enabled && self.include.covers(index, user) && !self.exclude.covers(index, user)
    }
}

/// The policy resolved against the directory, for computing report rows.
pub struct PolicyView {
    configs: Vec<Reach>,
    system_preferred: Option<Reach>,
}

impl PolicyView {
    /// Resolves every configuration's targets once.
    pub fn new(slot: &TenantSlot) -> Self {
        let policy = &slot.tenant.authentication_methods_policy;
        let configs = policy["authenticationMethodConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Reach {
                odata_type: c["@odata.type"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("#microsoft.graph.")
                    .to_string(),
                flags: c
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(_, v)| v.as_bool() == Some(true))
                            .map(|(k, _)| k.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                enabled: c["state"] == "enabled",
                include: Targeting::resolve(slot, &c["includeTargets"]),
                exclude: Targeting::resolve(slot, &c["excludeTargets"]),
            })
            .collect();
        let scp = &policy["systemCredentialPreferences"];
        // `default` is Microsoft-managed, which Microsoft documents as enabled today.
        let system_preferred = scp.is_object().then(|| Reach {
            odata_type: String::new(),
            flags: Vec::new(),
            enabled: matches!(scp["state"].as_str(), Some("enabled" | "default")),
            include: Targeting::resolve(slot, &scp["includeTargets"]),
            exclude: Targeting::resolve(slot, &scp["excludeTargets"]),
        });
        Self {
            configs,
            system_preferred,
        }
    }

    fn method_allowed(&self, m: &RankedMethod, index: usize, user: &User) -> bool {
        if m.configurations.is_empty() {
            return true;
        }
        self.configs.iter().any(|c| {
            m.configurations.contains(&c.odata_type.as_str())
                && m.requires
                    .is_none_or(|flag| c.flags.iter().any(|f| f == flag))
                && c.allows(index, user)
        })
    }

    /// The most preferred usable method of a user, if any.
    pub fn system_preferred(&self, index: usize, user: &User) -> Option<&'static RankedMethod> {
        SYSTEM_PREFERRED_ORDER.iter().find(|m| {
            m.registered
                .iter()
                .any(|r| user.methods_registered.iter().any(|x| x == r))
                && self.method_allowed(m, index, user)
        })
    }

    /// Whether system-preferred MFA applies to the user: the tenant's setting (enabled or
    /// Microsoft-managed) for users it includes, off for users it excludes, and the user's own
    /// `isSystemPreferredAuthenticationMethodEnabled` for everyone else. How the two combine
    /// is not documented; this is the reading `mfactl explain` also uses.
    fn system_preferred_enabled(&self, index: usize, user: &User) -> bool {
        let own = user
            .sign_in_preferences
            .is_system_preferred_authentication_method_enabled
            == Some(true);
        match &self.system_preferred {
            Some(r) if r.enabled && r.exclude.covers(index, user) => false,
            Some(r) if r.enabled && r.include.covers(index, user) => true,
            _ => own,
        }
    }

    /// The report row for a user.
    pub fn row(&self, version: ApiVersion, index: usize, user: &User) -> Value {
        let has = |list: &[&str]| {
            user.methods_registered
                .iter()
                .any(|m| list.contains(&m.as_str()))
        };
        let mfa_registered = SYSTEM_PREFERRED_ORDER.iter().any(|m| has(m.registered));
        let preferred = self.system_preferred(index, user);
        let passwordless = SYSTEM_PREFERRED_ORDER.iter().any(|m| {
            m.registered
                .iter()
                .any(|r| PASSWORDLESS.contains(r) && user.methods_registered.iter().any(|x| x == r))
                && self.method_allowed(m, index, user)
        });
        let sspr_registered = has(SSPR_METHODS);
        let user_preferred = user
            .sign_in_preferences
            .user_preferred_method_for_secondary_authentication
            .clone()
            .unwrap_or_else(|| {
                if user.user_type == "guest" {
                    String::new()
                } else {
                    "none".to_string()
                }
            });
        let mut row = Map::new();
        row.insert("id".into(), json!(user.id));
        row.insert("userPrincipalName".into(), json!(user.user_principal_name));
        row.insert("userDisplayName".into(), json!(user.display_name));
        row.insert("isAdmin".into(), json!(user.is_admin));
        row.insert("isSsprRegistered".into(), json!(sspr_registered));
        row.insert("isSsprEnabled".into(), json!(user.is_sspr_enabled));
        row.insert(
            "isSsprCapable".into(),
            json!(user.is_sspr_enabled && sspr_registered),
        );
        row.insert("isMfaRegistered".into(), json!(mfa_registered));
        row.insert("isMfaCapable".into(), json!(preferred.is_some()));
        row.insert("isPasswordlessCapable".into(), json!(passwordless));
        row.insert(
            "lastUpdatedDateTime".into(),
            json!(user.last_updated_date_time),
        );
        row.insert("methodsRegistered".into(), json!(*user.methods_registered));
        if version == ApiVersion::Beta {
            row.insert(
                "defaultMfaMethod".into(),
                json!(default_mfa_method(&user_preferred)),
            );
        }
        row.insert(
            "isSystemPreferredAuthenticationMethodEnabled".into(),
            json!(self.system_preferred_enabled(index, user)),
        );
        row.insert(
            "systemPreferredAuthenticationMethods".into(),
            json!(preferred.map(|m| vec![m.report_value]).unwrap_or_default()),
        );
        row.insert(
            "userPreferredMethodForSecondaryAuthentication".into(),
            json!(user_preferred),
        );
        row.insert("userType".into(), json!(user.user_type));
        Value::Object(row)
    }
}

/// The beta `defaultMfaMethod` that corresponds to a preferred method.
fn default_mfa_method(preferred: &str) -> &'static str {
    match preferred {
        "push" => "microsoftAuthenticatorPush",
        "oath" => "softwareOneTimePasscode",
        "sms" | "voiceMobile" => "mobilePhone",
        "voiceAlternateMobile" => "alternateMobilePhone",
        "voiceOffice" => "officePhone",
        "none" => "none",
        _ => "",
    }
}

fn row_field<'a>(row: &'a Value, name: &str) -> Field<'a> {
    match &row[name] {
        Value::String(s) => Field::Str(s),
        Value::Bool(b) => Field::Bool(*b),
        _ => Field::Null,
    }
}

/// GET `.../userRegistrationDetails`: paged; `$filter`, `$orderby`, `$top`, `$select`.
pub fn list(
    version: ApiVersion,
    slot: &TenantSlot,
    base_url: &str,
    path: &str,
    query: &[(String, String)],
) -> Result<ApiResponse, GraphError> {
    premium(&slot.tenant)?;
    let q = Query::parse(query, PAGE_SIZE)?;
    let filter = q
        .filter
        .as_deref()
        .map(|f| Filter::parse(f, FILTER_FIELDS))
        .transpose()?;
    let view = PolicyView::new(slot);
    let users = &slot.tenant.users;
    // The report leaves out disabled accounts.
    let mut order: Vec<usize> = (0..users.len())
        .filter(|&i| users[i].account_enabled)
        .collect();
    if let Some((field, desc)) = &q.order_by {
        let key = |i: &usize| -> String {
            match field.to_ascii_lowercase().as_str() {
                "userprincipalname" => users[*i].user_principal_name.to_lowercase(),
                "userdisplayname" => users[*i].display_name.to_lowercase(),
                _ => String::new(),
            }
        };
        if !matches!(
            field.to_ascii_lowercase().as_str(),
            "userprincipalname" | "userdisplayname"
        ) {
            return Err(GraphError::bad_request(format!(
                "$orderby is supported only on userPrincipalName and userDisplayName, not '{field}'."
            )));
        }
        order.sort_by_cached_key(key);
        if *desc {
            order.reverse();
        }
    }
    // The skiptoken is a position in `order`, so each page costs only what it reads.
    let size = q.top.unwrap_or(PAGE_SIZE);
    let mut value = Vec::with_capacity(size.min(order.len()));
    let mut pos = q.skip.min(order.len());
    while pos < order.len() && value.len() < size {
        let i = order[pos];
        pos += 1;
        let row = view.row(version, i, &users[i]);
        let preferred: Vec<String> = row["systemPreferredAuthenticationMethods"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let keep = filter.as_ref().is_none_or(|f| {
            f.matches(&|name| match name {
                "methodsRegistered" => Field::List(&users[i].methods_registered),
                "systemPreferredAuthenticationMethods" => Field::List(&preferred),
                _ => row_field(&row, name),
            })
        });
        if keep {
            value.push(q.project(row));
        }
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{CONTEXT_BASE}/{}/$metadata#reports/authenticationMethods/userRegistrationDetails",
            version.segment()
        )),
    );
    if pos < order.len() {
        body.insert(
            "@odata.nextLink".into(),
            json!(next_link(base_url, path, query, pos)),
        );
    }
    body.insert("value".into(), Value::Array(value));
    Ok(ApiResponse::ok(Value::Object(body)))
}

/// GET `.../userRegistrationDetails/{id}`.
pub fn get(version: ApiVersion, slot: &TenantSlot, id: &str) -> Result<ApiResponse, GraphError> {
    premium(&slot.tenant)?;
    let i = slot
        .index
        .user(id)
        .filter(|&i| slot.tenant.users[i].account_enabled)
        .ok_or_else(|| GraphError::not_found(id))?;
    let view = PolicyView::new(slot);
    let row = view.row(version, i, &slot.tenant.users[i]);
    let context = entity_context(
        version,
        "reports/authenticationMethods/userRegistrationDetails",
    );
    Ok(ApiResponse::ok(annotate(row, "@odata.context", context)))
}

fn premium(tenant: &Tenant) -> Result<(), GraphError> {
    if tenant.premium {
        Ok(())
    } else {
        Err(GraphError::new(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        ))
    }
}
