//! The core's modules form no cycle: each `src/*.rs` may name other modules (`crate::x`, `use crate::{x, y}`)
//! only so that following those names never leads back to itself. Unit tests (`#[cfg(test)] mod tests`) and
//! comments are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The modules one source file names, without its unit tests and comment lines.
fn dependencies(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // use crate::{a, b::{c, d}, e}: the names at the group's top level.
            let (mut depth, mut names, mut current, mut at_start) = (0, Vec::new(), String::new(), true);
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(std::mem::take(&mut current));
                        at_start = true;
                        continue;
                    }
                    ':' => at_start = false,
                    c if is_ident(c) && depth == 0 && at_start => current.push(c),
                    _ => {}
                }
            }
            names.push(current);
            found.extend(names.into_iter().filter(|n| modules.contains(n)));
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<_> =
        std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "rs")).collect();
    let modules: BTreeSet<String> =
        files.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).filter(|m| m != "lib").collect();
    files
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let mut deps = dependencies(&std::fs::read_to_string(p).unwrap(), &modules);
            deps.remove(&name);
            (name, deps)
        })
        .collect()
}

/// A cycle through `start`, if any (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut c = path[i..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|start| visit(g, start, &mut Vec::new(), &mut done))
}

#[test]
fn the_core_modules_have_no_import_cycle() {
    let g = graph();
    assert!(g.len() >= 15, "the scan found the modules: {:?}", g.keys());
    assert!(g["api"].contains("session") && g["flow"].contains("poller"), "the scan reads dependencies: {g:?}");
    if let Some(c) = cycle(&g) {
        panic!("import cycle: {}", c.join(" -> "));
    }
}

#[test]
fn the_scan_sees_a_cycle_when_there_is_one() {
    let modules: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), dependencies("use crate::{b::{X, Y}, error};\nfn f() {}", &modules));
    g.insert("b".to_string(), dependencies("// crate::a in a comment\nfn f() { crate::c::g() }", &modules));
    g.insert("c".to_string(), dependencies("fn g() {}\n#[cfg(test)]\nmod tests { use crate::a; }", &modules));
    assert_eq!(cycle(&g), None, "{g:?}");
    g.insert("c".to_string(), dependencies("use crate::a::thing;", &modules));
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
