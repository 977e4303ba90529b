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

#[test]
fn example_fixtures_match_shared_examples() {
    let Some(shared) = shared_graph() else { return };
    let ours = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/graph-examples"
    ));
    let mut names: Vec<_> = std::fs::read_dir(shared.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in &names {
        let theirs = std::fs::read(shared.join("examples").join(name)).unwrap();
        let mine = std::fs::read(ours.join(name)).unwrap_or_default();
        assert!(
            theirs == mine,
            "{name:?} differs from shared/graph/examples: copy it again"
        );
    }
    assert_eq!(
        std::fs::read_dir(ours).unwrap().count(),
        names.len(),
        "fixtures hold a file shared/ does not"
    );
}
