//! Unit tests of the YAML loader: core-schema resolution, positions, duplicate keys, the
//! bounds, and where syntax errors are reported.

use super::*;

fn one(src: &str) -> Node {
    let (docs, findings) = parse(src);
    assert!(findings.is_empty(), "{findings:?}");
    docs.into_iter().next().and_then(|d| d.root).unwrap()
}

fn value(src: &str) -> Resolved {
    match one(&format!("k: {src}")).get("k").map(|e| &e.value.kind) {
        Some(NodeKind::Scalar(s)) => s.value.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn core_schema_resolution() {
    assert_eq!(value("true"), Resolved::Bool(true));
    assert_eq!(value("\"true\""), Resolved::Str);
    assert_eq!(value("yes"), Resolved::Str);
    assert_eq!(value("on"), Resolved::Str);
    assert_eq!(value("12"), Resolved::Int(12));
    assert_eq!(value("-3"), Resolved::Int(-3));
    assert_eq!(value("0x1f"), Resolved::Int(31));
    assert_eq!(value("1.5"), Resolved::Float(1.5));
    assert_eq!(value("'12'"), Resolved::Str);
    assert_eq!(value("!!str 12"), Resolved::Str);
    assert_eq!(value("~"), Resolved::Null);
    assert_eq!(value(""), Resolved::Null);
    assert_eq!(value("1.2.3"), Resolved::Str);
    assert_eq!(value("all_users"), Resolved::Str);
}

#[test]
fn positions_are_one_based_and_point_at_keys_and_values() {
    let root = one("a: 1\nb:\n  c: \"x\"\n");
    let b = root.get("b").unwrap();
    assert_eq!(b.key_pos, Pos::new(2, 1));
    let c = b.value.get("c").unwrap();
    assert_eq!(c.key_pos, Pos::new(3, 3));
    assert_eq!(c.value.pos, Pos::new(3, 6));
}

#[test]
fn duplicate_keys_are_reported_at_the_second() {
    let (_, findings) = parse("a: 1\nb: 2\na: 3\n");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, codes::DUPLICATE_KEY);
    assert_eq!(findings[0].pos, Pos::new(3, 1));
}

#[test]
fn several_documents_and_aliases() {
    let (docs, findings) = parse("a: &x {s: 1}\nb: *x\n---\n---\nc: 2\n");
    assert!(findings.is_empty());
    assert_eq!(docs.len(), 3);
    assert!(docs[1].root.as_ref().is_none_or(Node::is_null));
    let root = docs[0].root.as_ref().unwrap();
    assert_eq!(
        root.get("a").unwrap().value.kind,
        root.get("b").unwrap().value.kind
    );
}

#[test]
fn syntax_error_keeps_earlier_documents() {
    let (docs, findings) = parse("a: 1\n---\nb: [1, 2\nc: 3\n");
    assert_eq!(docs.len(), 1);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, codes::YAML_SYNTAX);
    assert_eq!(findings[0].pos, Pos::new(3, 4), "at the unclosed bracket");
}

/// The one finding of `src`, as (code, line, column, message).
fn fault(src: &str, limits: &Limits) -> (&'static str, usize, usize, String) {
    let (_, findings) = parse_with(src, limits);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    (f.code, f.pos.line, f.pos.column, f.message.clone())
}

const SMALL: Limits = Limits {
    file_bytes: 1024,
    nodes: 20,
    aliases: 3,
    depth: 4,
};

#[test]
fn nodes_count_every_copy_an_alias_makes_and_stop_at_the_alias_that_crosses() {
    // `a` is 4 nodes (list + 3), its anchor's copy 4 more; each `*a` copies 4: the key
    // `b` and list bring 12, the first alias 16, the second 20, the third 24 > 20.
    let src = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n";
    let (code, line, column, message) = fault(src, &SMALL);
    assert_eq!((code, line, column), (codes::INPUT_BOUND, 2, 13));
    assert!(message.contains("more than 20 YAML nodes"), "{message}");
    let roomy = Limits { nodes: 24, ..SMALL };
    let (docs, findings) = parse_with(src, &roomy);
    assert!(findings.is_empty(), "{findings:?}");
    let root = docs[0].root.as_ref().unwrap();
    let NodeKind::Seq(items) = &root.get("b").unwrap().value.kind else {
        panic!("b is a list");
    };
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[2].pos,
        Pos::new(2, 13),
        "a copy is where its alias is"
    );
}

#[test]
fn the_billion_laughs_stop_at_the_bound_not_at_the_end_of_memory() {
    let mut src = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        src.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let (code, line, _, message) = fault(&src, &LIMITS);
    assert_eq!(code, codes::INPUT_BOUND);
    // 9^7 nodes under `g` are more than 2,000,000; everything up to `f` is fewer.
    assert_eq!(line, 7, "{message}");
    assert!(message.contains("2,000,000"), "{message}");
}

#[test]
fn aliases_are_counted_even_when_they_expand_to_little() {
    let (code, line, column, message) = fault("a: &a 1\nb: [*a, *a, *a, *a]\n", &SMALL);
    assert_eq!((code, line, column), (codes::INPUT_BOUND, 2, 17));
    assert!(message.contains("more than 3 aliases"), "{message}");
}

#[test]
fn depth_counts_collections_and_what_an_alias_brings() {
    let (code, line, column, message) = fault("a:\n  b:\n    c: [[1]]\n", &SMALL);
    assert_eq!((code, line, column), (codes::INPUT_BOUND, 3, 9));
    assert!(message.contains("more than 4 deep"), "{message}");
    assert!(parse_with("a:\n  b:\n    c: [1]\n", &SMALL).1.is_empty());
    // `x` is 2 deep; under three open mappings its alias would make 5.
    let (code, line, column, _) = fault("x: &x [[1]]\ny:\n  z:\n    w: *x\n", &SMALL);
    assert_eq!((code, line, column), (codes::INPUT_BOUND, 4, 8));
    assert!(
        parse_with("x: &x [[1]]\ny:\n  z: *x\n", &SMALL)
            .1
            .is_empty()
    );
}

#[test]
fn a_file_over_the_size_bound_is_not_read_and_is_refused_at_the_first_byte_past_it() {
    let dir = std::env::temp_dir().join(format!("mfactl-yaml-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.yaml");
    let line = "k: v\n".repeat(204) + "x: 123456789\n";
    assert!(line.len() > 1024);
    std::fs::write(&path, &line).unwrap();
    let Err(ReadFailure::TooLarge(f)) = read_file(&path, &SMALL) else {
        panic!("over the bound");
    };
    // 204 lines of 5 bytes, then byte 1,025 is the 5th of `x: 123456789`.
    assert_eq!((f.code, f.pos), (codes::INPUT_BOUND, Pos::new(205, 5)));
    assert!(f.message.contains("1,033 bytes"), "{}", f.message);
    std::fs::write(&path, &line[..1024]).unwrap();
    assert_eq!(
        read_file(&path, &SMALL).ok().as_deref(),
        Some(&line[..1024])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mappings_with_many_keys_find_duplicates_through_the_index() {
    let mut src: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
    src.push_str("k3: again\nk99: again\n");
    let (docs, findings) = parse(&src);
    let at: Vec<_> = findings.iter().map(|f| (f.code, f.pos.line)).collect();
    assert_eq!(
        at,
        [(codes::DUPLICATE_KEY, 101), (codes::DUPLICATE_KEY, 102)]
    );
    assert_eq!(docs[0].root.as_ref().unwrap().entries().unwrap().len(), 100);
}

#[test]
fn a_tab_that_indents_is_reported_where_it_is() {
    let src =
        "spec:\n  methods:\n    sms:\n      state: enabled\n\tvoice:\n      state: disabled\n";
    let (code, line, column, message) = fault(src, &LIMITS);
    assert_eq!((code, line, column), (codes::YAML_SYNTAX, 5, 1));
    assert_eq!(message, "a tab character cannot indent YAML; use spaces");
    let (_, line, column, _) = fault("a:\n  b: 1\n \tc: 2\n", &LIMITS);
    assert_eq!((line, column), (3, 2));
    assert!(
        parse("a: |\n  x\ty\nb: [1,\t2]\t# c\n").1.is_empty(),
        "tabs inside lines are fine"
    );
}

#[test]
fn an_unclosed_bracket_is_reported_where_it_opens() {
    let src = "a:\n  b: [{x: 1}, {x: 2}\n  c: 3\nd: 4\n";
    let (code, line, column, message) = fault(src, &LIMITS);
    assert_eq!((code, line, column), (codes::YAML_SYNTAX, 2, 6));
    assert_eq!(message, "`[` opened here is never closed");
    let (_, line, column, message) = fault("a: [1, {x: 2, y: \"]\" ]\nb: 1\n", &LIMITS);
    assert_eq!((line, column), (1, 8), "{message}");
    assert_eq!(message, "`{` opened here is never closed");
    // A closed bracket keeps the parser's own message and position.
    let (_, line, _, message) = fault("a: [\n  1,\n  b: c: d,\n]\n", &LIMITS);
    assert_eq!(line, 3);
    assert!(message.starts_with("YAML syntax error:"), "{message}");
}

#[test]
fn control_characters_are_refused_at_their_own_position() {
    let (code, line, column, message) = fault("a: 1\nb: \"x\0y\"\n", &LIMITS);
    assert_eq!((code, line, column), (codes::YAML_SYNTAX, 2, 6));
    assert_eq!(message, "a NUL byte (U+0000) is not allowed in YAML");
    let (_, line, column, message) = fault("name: é\u{7}\n", &LIMITS);
    assert_eq!((line, column), (1, 8));
    assert_eq!(
        message,
        "the control character U+0007 is not allowed in YAML"
    );
    let (_, _, _, message) = fault("a: \u{9b}\n", &LIMITS);
    assert!(message.contains("U+009B"), "{message}");
    assert!(parse("a: \"\\0 \\x07\"\r\nb: \u{85}é\n").1.is_empty());
}
