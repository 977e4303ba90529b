//! The copies of shared/graph kept in this repository stay equal to the originals, when
//! the shared folder is beside the checkout (as on developer machines and CI).

use std::path::Path;

fn shared_graph() -> Option<&'static Path> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/graph"));
    p.is_dir().then_some(p)
}

#[test]
fn embedded_schema_matches_shared_schema() {
    let Some(shared) = shared_graph() else { return };
    let ours = include_str!("../../src/msgraph/graph-schema.json");
    let theirs = std::fs::read_to_string(shared.join("schema.json")).unwrap();
    assert!(
        ours == theirs,
        "src/msgraph/graph-schema.json differs from shared/graph/schema.json: copy it again"
    );
}

/// The files of `shared/graph/<shared_dir>` equal those of `tests/fixtures/<ours>`, one for
/// one.
fn copies_match(shared_dir: &str, ours: &str) {
    let Some(shared) = shared_graph() else { return };
    let theirs_dir = shared.join(shared_dir);
    let ours = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(ours);
    let mut names: Vec<_> = std::fs::read_dir(&theirs_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in &names {
        let theirs = std::fs::read(theirs_dir.join(name)).unwrap();
        let mine = std::fs::read(ours.join(name)).unwrap_or_default();
        assert!(
            theirs == mine,
            "{name:?} differs from shared/graph/{shared_dir}: copy it again"
        );
    }
    assert_eq!(
        std::fs::read_dir(ours).unwrap().count(),
        names.len(),
        "fixtures hold a file shared/graph/{shared_dir} does not"
    );
}

#[test]
fn example_fixtures_match_shared_examples() {
    copies_match("examples", "graph-examples");
}

#[test]
fn conditional_access_fixtures_match_shared_examples() {
    copies_match("conditional-access/examples", "conditional-access-examples");
}
