//! Go's `filepath.Glob` and `filepath.Clean`, as node_exporter applies them to
//! `--collector.textfile.directory`. The value is expanded as a glob. When that matches
//! nothing or is not a valid pattern, it is used as a literal directory. The `file`
//! label is `Clean(dir + "/" + name)`, so `/x/` and `/x` give the same labels.

use std::fs;

/// The directories a `--collector.textfile.directory` value stands for, in Go's order.
pub fn expand(pattern: &str) -> Vec<String> {
    match glob(pattern) {
        Ok(matches) if !matches.is_empty() => matches,
        _ => vec![pattern.to_string()],
    }
}

/// Go's `filepath.Clean`: drops `.`, empty components and a trailing `/`, and resolves
/// `..` lexically.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

#[derive(Debug, PartialEq, Eq)]
struct BadPattern;

fn has_meta(path: &str) -> bool {
    path.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Glob`: matches in directory order, sorted by name at each level.
/// I/O errors count as no match.
fn glob(pattern: &str) -> Result<Vec<String>, BadPattern> {
    Pattern::new(pattern)?;
    if !has_meta(pattern) {
        return Ok(match fs::symlink_metadata(pattern) {
            Ok(_) => vec![pattern.to_string()],
            Err(_) => Vec::new(),
        });
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(i) => (&pattern[..=i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    let dir = match dir {
        "" => ".",
        "/" => "/",
        dir => &dir[..dir.len() - 1],
    };
    if !has_meta(dir) {
        return glob_in(dir, file);
    }
    if dir == pattern {
        return Err(BadPattern);
    }
    let mut matches = Vec::new();
    for parent in glob(dir)? {
        matches.extend(glob_in(&parent, file)?);
    }
    Ok(matches)
}

fn glob_in(dir: &str, pattern: &str) -> Result<Vec<String>, BadPattern> {
    let pattern = Pattern::new(pattern)?;
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(Vec::new());
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    // A name that is not UTF-8 cannot be part of a String path; such a directory is skipped.
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .filter(|name| pattern.matches(name))
        .map(|name| clean(&format!("{dir}/{name}")))
        .collect())
}

#[derive(Debug)]
enum Token {
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Any,
    Char(char),
    /// `[…]` or `[^…]`: inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A pattern of Go's `filepath.Match`. Unlike Go, the whole pattern is checked before
/// matching, so a bad pattern is always an error.
#[derive(Debug)]
struct Pattern(Vec<Token>);

impl Pattern {
    fn new(text: &str) -> Result<Self, BadPattern> {
        let mut chars = text.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => Token::Char(chars.next().ok_or(BadPattern)?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let low = class_char(&mut chars)?;
                        let high = match chars.next_if_eq(&'-') {
                            Some(_) => class_char(&mut chars)?,
                            None => low,
                        };
                        ranges.push((low, high));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            });
        }
        Ok(Pattern(tokens))
    }

    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_tokens(&self.0, &name)
    }
}

/// One character of a class: `-` and `]` must be escaped, and the class must go on.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, BadPattern> {
    let c = match chars.next() {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern)?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err(BadPattern);
    }
    Ok(c)
}

fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    if let Token::Star = token {
        let run = name.iter().take_while(|c| **c != '/').count();
        return (0..=run).any(|skip| match_tokens(rest, &name[skip..]));
    }
    let Some((&c, tail)) = name.split_first() else {
        return false;
    };
    let one = match token {
        Token::Any => c != '/',
        Token::Char(expected) => c == *expected,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(low, high)| *low <= c && c <= *high) != *negated
        }
        Token::Star => unreachable!("handled above"),
    };
    one && match_tokens(rest, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        for (path, cleaned) in [
            ("/tmp//a/b/../c/", "/tmp/a/c"),
            ("./y1/a.prom", "y1/a.prom"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/..", "/"),
            ("", "."),
            ("a/./b", "a/b"),
        ] {
            assert_eq!(clean(path), cleaned, "{path:?}");
        }
    }

    #[test]
    fn matches_like_go() {
        let m = |pattern: &str, name: &str| Pattern::new(pattern).unwrap().matches(name);
        assert!(m("x*", "x1") && m("x*", "x") && !m("x*", "y1"));
        assert!(m("*.prom", ".prom") && m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("[a-c]1", "b1") && !m("[^a-c]1", "b1") && m("[^a-c]1", "d1"));
        assert!(m("\\*", "*") && !m("\\*", "a"));
        assert!(m("*x*y", "axbxy") && !m("*x*y", "axbx"));
        for bad in ["[x", "[]a]", "[a-]", "[-a]", "[^]", "x\\", "[a"] {
            assert_eq!(Pattern::new(bad).err(), Some(BadPattern), "{bad:?}");
        }
    }

    #[test]
    fn expands_globs_and_falls_back_to_the_literal() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        for sub in ["x1", "x2", "y1"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("x3"), "a file matches too").unwrap();
        assert_eq!(
            expand(&format!("{root}/x*")),
            vec![
                format!("{root}/x1"),
                format!("{root}/x2"),
                format!("{root}/x3")
            ]
        );
        fs::write(dir.path().join("y1/a.prom"), "").unwrap();
        assert_eq!(
            expand(&format!("{root}/[xy]?/*.prom")),
            vec![format!("{root}/y1/a.prom")]
        );
        assert_eq!(
            expand(&format!("{root}//./[^x]*")),
            vec![format!("{root}/y1")]
        );
        for literal in [
            // Go matches the part after the last `/` against each name: "" matches none.
            format!("{root}/*/"),
            format!("{root}/z*"),
            format!("{root}/[x"),
            format!("{root}/missing"),
            format!("{root}//x1/"),
        ] {
            assert_eq!(expand(&literal), vec![literal.clone()]);
        }
    }
}
