//! Name resolution: what is kept, how lookups are written, how pages and listings resolve,
//! and what a name that does not resolve is reported as.

use super::*;
use serde_json::json;

fn here(line: usize) -> Location {
    Location {
        file: "p.yaml".into(),
        line,
        column: 7,
    }
}

#[test]
fn each_name_is_kept_once_with_its_first_location() {
    let mut names = Names::default();
    for i in 0..10_000 {
        names.add(NameKind::User, &format!("u{}@x", i % 5_000), &here(i + 1));
    }
    names.add(NameKind::Group, "u1@x", &here(1));
    assert_eq!(names.len(), 5_001);
    assert_eq!(names.wanted[1].2.line, 2);
}

#[test]
fn lookups_escape_quotes_and_encode() {
    assert_eq!(
        NameKind::Group.lookup_path("O'Brien Team"),
        "/v1.0/groups?$filter=displayName%20eq%20%27O%27%27Brien%20Team%27&$select=id,displayName"
    );
    assert_eq!(
        NameKind::User.lookup_path("ada@contoso.com"),
        "/v1.0/users/ada%40contoso%2Ecom?$select=id,userPrincipalName"
    );
    assert_eq!(
        NameKind::User
            .candidates_path(&prefix("Ada.L@x"))
            .as_deref(),
        Some(
            "/v1.0/users?$filter=startswith%28userPrincipalName%2C%27ad%27%29&$select=userPrincipalName&$top=999"
        )
    );
    assert_eq!(NameKind::Location.candidates_path("of"), None);
    assert_eq!(
        NameKind::Role.lookup_path("Global Administrator"),
        "/v1.0/directoryRoleTemplates"
    );
}

#[test]
fn a_group_page_resolves_to_one_none_or_many() {
    let one = outcome(NameKind::Group, Some(json!({"value": [{"id": "g1"}]})));
    assert_eq!(
        one,
        Ok(Outcome::One(Resolved {
            id: "g1".into(),
            upn: None
        }))
    );
    let none = outcome(NameKind::Group, Some(json!({"value": []})));
    assert_eq!(none, Ok(Outcome::None));
    let two = outcome(
        NameKind::Group,
        Some(json!({"value": [{"id": "a"}, {"id": "b"}]})),
    );
    assert_eq!(two, Ok(Outcome::Many(2)));
    assert!(outcome(NameKind::Group, Some(json!({}))).is_err());
}

#[test]
fn diagnostics_carry_the_code_the_count_and_a_suggestion() {
    let mut candidates = HashMap::new();
    candidates.insert(
        (NameKind::Group, "br".to_string()),
        vec!["Break Glass Accounts".to_string(), "Branch Office".into()],
    );
    let d = diagnostic(
        NameKind::Group,
        "Brake Glass Accounts",
        here(4),
        &Outcome::None,
        &candidates,
    );
    assert_eq!(
        d.to_string(),
        "p.yaml:4:7: error[MFA038]: no group is named 'Brake Glass Accounts'\n  help: did you mean `Break Glass Accounts`?"
    );
    let far = diagnostic(
        NameKind::Group,
        "Brass band",
        here(5),
        &Outcome::None,
        &candidates,
    );
    assert_eq!(far.help, None);
    let many = diagnostic(
        NameKind::Group,
        "Sales",
        here(6),
        &Outcome::Many(3),
        &candidates,
    );
    assert_eq!(
        many.to_string(),
        "p.yaml:6:7: error[MFA038]: 3 groups are named 'Sales'; a target must name exactly one\n  help: use the group's object id instead"
    );
}

#[test]
fn listed_kinds_name_what_they_are_and_suggest_from_their_listing() {
    let mut candidates = HashMap::new();
    candidates.insert(
        (NameKind::Role, prefix("Global Administrater")),
        vec![
            "Global Administrator".to_string(),
            "Security Administrator".into(),
        ],
    );
    let d = diagnostic(
        NameKind::Role,
        "Global Administrater",
        here(8),
        &Outcome::None,
        &candidates,
    );
    assert_eq!(
        d.to_string(),
        "p.yaml:8:7: error[MFA038]: no directory role is named 'Global Administrater'\n  help: did you mean `Global Administrator`?"
    );
    let two = diagnostic(
        NameKind::Location,
        "Branch",
        here(9),
        &Outcome::Many(2),
        &candidates,
    );
    assert_eq!(
        two.to_string(),
        "p.yaml:9:7: error[MFA038]: 2 named locations are named 'Branch'; a target must name exactly one\n  help: use the named location's id instead"
    );
}
