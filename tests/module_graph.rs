//! The crate's modules point one way: no two sibling modules (top-level ones, or the
//! children of one module) import each other, directly or around a cycle. Read from the
//! source itself, so a new `use` that closes a loop fails here before review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["bot", "status"]`) of every source file under `src/`, with its text
/// (comments and the trailing `#[cfg(test)] mod tests` left out).
fn modules(root: &Path) -> BTreeMap<Vec<String>, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let mut parts: Vec<String> =
                relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
            // Binaries are crates of their own.
            if parts.first().is_some_and(|p| p == "main" || p == "bin") {
                continue;
            }
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            found.insert(parts, code_of(&text));
        }
    }
    found
}

fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Every path named after `crate::` or `super::` in `code` (of module `here`), with
/// groups (`crate::a::{b, c::d}`) expanded.
fn referenced(here: &[String], code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (start, base) in [("crate::", Vec::new()), ("super::", here[..here.len().saturating_sub(1)].to_vec())]
    {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let before = rest[..at].chars().last();
            rest = &rest[at + start.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut tokens = tokens(rest).into_iter().peekable();
            expand(&base, &mut tokens, &mut paths);
        }
    }
    paths
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut depth = 0i32;
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                word.push(c);
                chars.next();
            }
            out.push(word);
        } else if c == ':' {
            chars.next();
        } else if c == '{' {
            depth += 1;
            out.push("{".into());
            chars.next();
        } else if c == '}' || c == ',' {
            if c == '}' {
                depth -= 1;
            }
            out.push(c.to_string());
            chars.next();
            if depth <= 0 {
                break;
            }
        } else if c.is_whitespace() && depth > 0 {
            chars.next();
        } else {
            break;
        }
    }
    out
}

fn expand(
    prefix: &[String],
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<String>>,
    out: &mut Vec<Vec<String>>,
) {
    let mut path = prefix.to_vec();
    while let Some(token) = tokens.next() {
        match token.as_str() {
            "{" => {
                loop {
                    expand(&path, tokens, out);
                    match tokens.next().as_deref() {
                        Some(",") => continue,
                        _ => break,
                    }
                }
                return;
            }
            "}" | "," => break,
            "as" => {
                tokens.next();
            }
            _ => path.push(token),
        }
        if tokens.peek().is_some_and(|t| t == "," || t == "}") {
            break;
        }
    }
    out.push(path);
}

/// The pairs of sibling modules under `root` that import each other.
fn cycles(root: &Path) -> (Vec<String>, usize) {
    let modules = modules(root);
    let known: BTreeSet<&Vec<String>> = modules.keys().collect();
    // Edges between siblings: the child of their common parent that each side lives in.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, code) in &modules {
        for path in referenced(module, code) {
            let Some(target) = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p))
            else {
                continue;
            };
            let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= module.len() || common >= target.len() {
                continue; // a parent and its own child
            }
            edges.entry(module[..=common].to_vec()).or_default().insert(target[..=common].to_vec());
        }
    }
    let mut cycles = BTreeSet::new();
    for (from, tos) in &edges {
        for to in tos {
            if reaches(&edges, to, from) {
                let (a, b) = if from < to { (from, to) } else { (to, from) };
                cycles.insert(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    let cycles: Vec<String> = cycles.into_iter().collect();
    (cycles, edges.len())
}

#[test]
fn no_two_sibling_modules_import_each_other() {
    let (cycles, modules_with_imports) = cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(cycles.is_empty(), "modules that import each other (directly or around a loop): {cycles:#?}");
    assert!(modules_with_imports > 5, "the scan found the crate's imports");
}

#[test]
fn loops_are_found_at_any_depth_and_through_groups() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = [
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::b::Thing;"),
        // b -> c -> a closes a loop through a group and a rename.
        ("b.rs", "use crate::{c::{self, Other as O}, d};"),
        ("c.rs", "fn f() -> crate::a::T { todo!() }"),
        ("d/mod.rs", "mod x; mod y; // crate::a::Never (a comment)"),
        ("d/x.rs", "use super::y::Y;"),
        ("d/y.rs", "use crate::d::x::X;\n#[cfg(test)]\nmod tests { use crate::a::Z; }"),
    ];
    for (name, code) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        std::fs::write(path, code).expect("a file");
    }
    let (mut found, _) = cycles(dir.path());
    found.sort();
    assert_eq!(found, vec!["a <-> b", "a <-> c", "b <-> c", "d::x <-> d::y"]);
}

fn reaches(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &Vec<String>,
    to: &Vec<String>,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.clone()];
    while let Some(node) = stack.pop() {
        if &node == to {
            return true;
        }
        if seen.insert(node.clone()) {
            stack.extend(edges.get(&node).into_iter().flatten().cloned());
        }
    }
    false
}
