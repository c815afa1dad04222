//! Repository hygiene, checked on every `make test` (after TigerBeetle's `tidy.zig`): line and
//! file lengths, function lengths, no `unwrap`/`expect` in server code, no `println!` in
//! libraries, and a `// SAFETY:` comment above every `unsafe`.

use std::path::{Path, PathBuf};

const LINE_COLUMNS_MAX: usize = 100;
const FILE_LINES_MAX: usize = 800;
const FUNCTION_LINES_MAX: usize = 70;
/// Crates whose non-test code serves untrusted peers.
const SERVER_CRATES: &[&str] = &["namesrv", "broker", "client"];
const LIBRARY_CRATES: &[&str] = &["wire", "client", "namesrv", "broker"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "fuzz" | "run" | ".git" | "java") {
                rust_files(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// Lines before the first `#[cfg(test)]`: the part of a file that ships.
fn shipped_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
}

fn is_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("//") || trimmed.starts_with("*") || trimmed.starts_with("/*")
}

/// Function bodies longer than the limit: a `fn` line at some indentation, closed by the first
/// later line that is `}` at the same indentation.
fn long_functions(text: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "async fn ",
        ]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix));
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let closing = " ".repeat(indent) + "}";
        if let Some(length) = lines[start + 1..].iter().position(|l| *l == closing) {
            if length + 2 > FUNCTION_LINES_MAX {
                found.push((start + 1, length + 2));
            }
        }
    }
    found
}

fn check_file(root: &Path, path: &Path, problems: &mut Vec<String>) {
    let text = std::fs::read_to_string(path).expect("readable source");
    let relative = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let crate_name = relative.split('/').next().unwrap_or("");
    let in_src = relative.contains("/src/");
    let is_binary = relative.contains("/src/bin/") || relative.ends_with("/main.rs");
    let line_count = text.lines().count();
    if line_count > FILE_LINES_MAX {
        problems.push(format!(
            "{relative}: {line_count} lines (max {FILE_LINES_MAX})"
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let columns = line.chars().count();
        // Test data (JSON bodies, golden strings) may run long; code may not.
        let is_literal = line.contains("r#\"") || line.trim_start().starts_with('"');
        if columns > LINE_COLUMNS_MAX && !is_literal {
            problems.push(format!("{relative}:{}: {columns} columns", index + 1));
        }
        let code = line.split("//").next().unwrap_or("");
        let in_string = |at: usize| code[..at].matches('"').count() % 2 == 1;
        let unsafe_at = code.find("unsafe ").or_else(|| code.find("unsafe{"));
        if unsafe_at.is_some_and(|at| !in_string(at)) {
            let previous = lines[..index].iter().rev().find(|l| !l.trim().is_empty());
            let justified = lines[..index]
                .iter()
                .rev()
                .take_while(|l| is_comment(l) || l.trim().starts_with("#["))
                .any(|l| l.contains("SAFETY:"));
            if !justified && !code.contains("unsafe fn") && previous.is_some() {
                problems.push(format!(
                    "{relative}:{}: unsafe without // SAFETY:",
                    index + 1
                ));
            }
        }
    }
    // A `tests.rs`/`*_tests.rs` module is compiled only under `#[cfg(test)]` by its parent.
    let is_test_module = relative.ends_with("/tests.rs") || relative.ends_with("_tests.rs");
    if in_src && !is_test_module && SERVER_CRATES.contains(&crate_name) {
        for (index, line) in shipped_lines(&text) {
            if is_comment(line) {
                continue;
            }
            if line.contains(".unwrap()") || line.contains(".expect(") {
                problems.push(format!(
                    "{relative}:{}: unwrap/expect in server code",
                    index + 1
                ));
            }
        }
    }
    if in_src && !is_binary && LIBRARY_CRATES.contains(&crate_name) {
        for (index, line) in shipped_lines(&text) {
            if !is_comment(line) && (line.contains("println!") || line.contains("print!(")) {
                problems.push(format!("{relative}:{}: printing from a library", index + 1));
            }
        }
    }
    for (line, length) in long_functions(&text) {
        problems.push(format!(
            "{relative}:{line}: function of {length} lines (max {FUNCTION_LINES_MAX})"
        ));
    }
}

#[test]
fn tidy() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 10,
        "found only {} Rust files under {}",
        files.len(),
        root.display()
    );
    let mut problems = Vec::new();
    for file in &files {
        check_file(&root, file, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} tidy problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn tidy_catches_what_it_should() {
    let long_fn = format!("fn f() {{\n{}}}\n", "    x();\n".repeat(80));
    assert_eq!(long_functions(&long_fn), vec![(1, 82)]);
    assert!(long_functions("fn short() {\n}\n").is_empty());
    let code = "fn a() {}\n#[cfg(test)]\nmod tests { fn b() { x.unwrap(); } }\n";
    assert_eq!(shipped_lines(code).count(), 1);
}
