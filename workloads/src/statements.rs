//! A plain `.sql` file of statements, as a DBA keeps them: split at each `;` that is not inside
//! a quoted string, a quoted identifier, a dollar-quoted body or a comment. Comments are
//! dropped; each statement keeps the line it starts on, so a skipped statement can be named.
//! Never fails: an unterminated quote or comment ends the last statement.

use knobs::Engine;

/// One statement of a file, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    pub line: usize,
    pub text: String,
}

/// The statements of `text`, without comments, trimmed, empty ones left out. MySQL and
/// MariaDB escape quotes in strings with a backslash; PostgreSQL's standard strings do not.
pub fn split_statements(text: &str, engine: Engine) -> Vec<SqlStatement> {
    let backslash_escapes = engine.is_mysql_family();
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    let mut line = 1;
    let mut i = 0;
    let finish = |current: &mut String, start_line: usize, out: &mut Vec<SqlStatement>| {
        let trimmed = current.trim();
        if !trimmed.is_empty() {
            out.push(SqlStatement {
                line: start_line,
                text: trimmed.to_string(),
            });
        }
        current.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if current.trim().is_empty() && !c.is_whitespace() {
            start_line = line;
        }
        match c {
            '\n' => {
                line += 1;
                current.push(c);
                i += 1;
            }
            '-' if next == Some('-') => {
                // A line comment: skip to the end of the line (the newline is kept).
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
                current.push(' ');
            }
            '\'' | '"' | '`' => {
                current.push(c);
                i += 1;
                while i < chars.len() {
                    let q = chars[i];
                    current.push(q);
                    if q == '\n' {
                        line += 1;
                    }
                    i += 1;
                    if q == '\\' && c == '\'' && backslash_escapes && i < chars.len() {
                        current.push(chars[i]);
                        i += 1;
                    } else if q == c {
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            '$' if dollar_tag(&chars, i).is_some() => {
                let tag = dollar_tag(&chars, i).unwrap_or_default();
                let tag_chars: Vec<char> = tag.chars().collect();
                current.push_str(&tag);
                i += tag_chars.len();
                while i < chars.len() {
                    if chars[i..].starts_with(&tag_chars) {
                        current.push_str(&tag);
                        i += tag_chars.len();
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
            }
            ';' => {
                finish(&mut current, start_line, &mut out);
                i += 1;
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    finish(&mut current, start_line, &mut out);
    out
}

/// `$tag$` or `$$` starting at `i` (not a `$1` placeholder).
fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        if j == i + 1 && chars[j].is_ascii_digit() {
            return None;
        }
        j += 1;
    }
    (chars.get(j) == Some(&'$')).then(|| chars[i..=j].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(sql: &str) -> Vec<String> {
        split_statements(sql, Engine::Postgres)
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let sql = "-- top comment\nSELECT 1;\n\n/* a; block /* nested; */ still */ SELECT 'a;b' FROM t WHERE x = $1;\nSELECT \"odd;name\" FROM `q;t`; SELECT $body$ ; $body$, 'it''s;'\n-- trailing ; comment\n";
        assert_eq!(
            texts(sql),
            [
                "SELECT 1",
                "SELECT 'a;b' FROM t WHERE x = $1",
                "SELECT \"odd;name\" FROM `q;t`",
                "SELECT $body$ ; $body$, 'it''s;'"
            ]
        );
        let lines: Vec<usize> = split_statements(sql, Engine::Postgres)
            .iter()
            .map(|s| s.line)
            .collect();
        assert_eq!(lines, [2, 4, 5, 5]);
    }

    #[test]
    fn placeholders_and_unterminated_input() {
        assert_eq!(texts("SELECT $1, $2;"), ["SELECT $1, $2"]);
        assert_eq!(texts("SELECT 'open"), ["SELECT 'open"]);
        assert_eq!(texts("SELECT 1 /* open"), ["SELECT 1"]);
        assert!(texts(";;  ;\n-- only\n").is_empty());
        // A backslash escapes a quote in MySQL strings only.
        let mysql: Vec<String> = split_statements("SELECT 'a\\';b'; SELECT 2", Engine::Mariadb)
            .into_iter()
            .map(|s| s.text)
            .collect();
        assert_eq!(mysql, ["SELECT 'a\\';b'", "SELECT 2"]);
        assert_eq!(
            texts("SELECT 'C:\\'; SELECT 2"),
            ["SELECT 'C:\\'", "SELECT 2"]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn never_panics_and_keeps_no_empty_statement(s in "[a-z ;'\"`$/*\\-\n0-9]{0,80}") {
            for st in split_statements(&s, Engine::Mariadb).into_iter().chain(split_statements(&s, Engine::Postgres)) {
                prop_assert!(!st.text.trim().is_empty());
                prop_assert!(st.line >= 1);
            }
        }

        #[test]
        fn plain_statements_round_trip(parts in proptest::collection::vec("[a-z][a-z0-9 =]{0,20}", 1..6)) {
            let joined = parts.join(";\n");
            let expected: Vec<String> = parts.iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
            prop_assert_eq!(texts(&joined), expected);
        }
    }
}
