//! The map in ARCHITECTURE.md, checked against the code's own imports: every `crate::<module>` path (and
//! `super::super::<module>` from a file two folders down) in src/ is an edge between top-level modules,
//! and the data path must be a one-way street. No network, no lab: this reads the sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The data path, top to bottom, as ARCHITECTURE.md draws it: a module may import only modules below it.
/// Modules not listed (`admin`, `fleet`, `reshard`, `reload`, `server`, `main`, the binaries) are the
/// control plane and the process around it: they may import anything, and nothing listed imports them.
const LAYERS: &[&[&str]] = &[
    &["session"],
    &["execute"],
    &["shared"],
    &["cutover_gate", "metrics", "login_guard"],
    &["plan"],
    &["sql"],
    &["sharding"],
    &["backend"],
    &["config"],
    &["protocol"],
    &["error", "stats"],
    &["latency"],
];

/// Upward imports still in the code, each a known cycle below the data path's middle (none touches session
/// or execute): config/validate.rs checks the rules by building what they describe (the TLS connector,
/// the layouts). Listed so a new one fails the test, and so does fixing one without taking it off this list.
const KNOWN_UPWARD: &[(&str, &str)] = &[("config", "backend"), ("config", "sharding")];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of src/ belongs to (`src/execute/merge.rs` → `execute`, `src/shared.rs` →
/// `shared`), and how deep it sits.
fn module_of(src: &Path, file: &Path) -> (String, usize) {
    let rel = file.strip_prefix(src).expect("under src");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    (parts[0].trim_end_matches(".rs").to_string(), parts.len())
}

/// Every top-level module a file names, without its comments (a doc comment may mention any module).
fn imports(text: &str, depth: usize, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut prefixes = vec!["crate::".to_string()];
    if depth >= 3 {
        prefixes.push("super::super::".to_string());
    }
    for prefix in &prefixes {
        for (at, _) in code.match_indices(prefix.as_str()) {
            let rest = &code[at + prefix.len()..];
            // `crate::{a, b::c}` names several.
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').map(|s| s.trim().split("::").next().unwrap_or("")).collect(),
                None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
            };
            found.extend(names.into_iter().filter(|n| modules.contains(*n)).map(str::to_string));
        }
    }
    found
}

/// module → the modules it imports, and the files behind each edge.
fn graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f).0).collect();
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for file in &files {
        let (module, depth) = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable");
        for target in imports(&text, depth, &modules) {
            if target != module {
                let shown = file.strip_prefix(&src).expect("under src").display().to_string();
                edges.entry(module.clone()).or_default().entry(target).or_default().push(shown);
            }
        }
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan's, iteratively small enough to recurse).
fn cycles(edges: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit(w: &mut Walk<'_>, v: &str) {
        let i = w.index.len();
        w.index.insert(v.to_string(), i);
        w.low.insert(v.to_string(), i);
        w.stack.push(v.to_string());
        w.on_stack.insert(v.to_string());
        let next: Vec<String> = w.edges.get(v).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for n in next {
            if !w.index.contains_key(&n) {
                visit(w, &n);
                let l = w.low[&n].min(w.low[v]);
                w.low.insert(v.to_string(), l);
            } else if w.on_stack.contains(&n) {
                let l = w.index[&n].min(w.low[v]);
                w.low.insert(v.to_string(), l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = BTreeSet::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(&top);
                let done = top == v;
                component.insert(top);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                w.found.push(component);
            }
        }
    }
    let mut w = Walk { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), found: Vec::new() };
    let all: BTreeSet<String> = edges.keys().chain(edges.values().flat_map(|m| m.keys())).cloned().collect();
    for v in all {
        if !w.index.contains_key(&v) {
            visit(&mut w, &v);
        }
    }
    w.found
}

#[test]
fn the_data_path_only_imports_downwards() {
    let edges = graph();
    let mut wrong = Vec::new();
    let mut known_seen = Vec::new();
    for (from, targets) in &edges {
        let Some(from_rank) = rank(from) else { continue };
        for (to, files) in targets {
            if KNOWN_UPWARD.contains(&(from.as_str(), to.as_str())) {
                known_seen.push((from.as_str(), to.as_str()));
                continue;
            }
            match rank(to) {
                Some(to_rank) if to_rank > from_rank => {}
                Some(_) => wrong.push(format!("{from} imports {to} (same or higher layer) in {}", files.join(", "))),
                None => wrong.push(format!("{from} imports the control-plane module {to} in {}", files.join(", "))),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against ARCHITECTURE.md's layers:\n{}", wrong.join("\n"));
    let gone: Vec<_> = KNOWN_UPWARD.iter().filter(|k| !known_seen.contains(k)).collect();
    assert!(gone.is_empty(), "no longer in the code, take them off KNOWN_UPWARD (and ARCHITECTURE.md): {gone:?}");
}

#[test]
fn no_import_cycle_runs_through_session_or_execute() {
    let edges = graph();
    // The walk must see the real graph: session imports execute, and execute imports plan.
    assert!(edges.get("session").is_some_and(|m| m.contains_key("execute")), "the scan found no session → execute import");
    assert!(edges.get("execute").is_some_and(|m| m.contains_key("plan")), "the scan found no execute → plan import");
    let through: Vec<_> = cycles(&edges).into_iter().filter(|c| c.contains("session") || c.contains("execute")).collect();
    assert!(through.is_empty(), "import cycles through session/ or execute/: {through:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    // A check that cannot fail is no check: the same walk over a made-up graph with one cycle.
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (a, b) in [("session", "execute"), ("execute", "plan"), ("plan", "session"), ("plan", "sql")] {
        edges.entry(a.into()).or_default().insert(b.into(), vec![]);
    }
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["execute", "plan", "session"].iter().map(|s| s.to_string()).collect());
    let modules: BTreeSet<String> = ["plan", "sql", "execute"].iter().map(|s| s.to_string()).collect();
    let seen = imports("use crate::{plan::Plan, sql::lexer};\n// crate::execute is only named in a comment\n", 2, &modules);
    assert_eq!(seen, ["plan", "sql"].iter().map(|s| s.to_string()).collect());
}

#[test]
fn folders_are_at_most_two_levels_deep() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let deep: Vec<String> = files.iter().filter(|f| module_of(&src, f).1 > 2).map(|f| f.display().to_string()).collect();
    assert!(deep.is_empty(), "files more than two levels under src/: {deep:?}");
}
