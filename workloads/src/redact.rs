//! The one place secrets are taken out of text before it is printed, logged or stored (safety
//! rule 6). Every form a password takes in a connection string goes through [`redact`]:
//!
//! ```
//! use workloads::redact::redact;
//! assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
//! assert_eq!(redact("postgres://u@h/db?password=pw&sslmode=require"), "postgres://u@h/db?password=***&sslmode=require");
//! assert_eq!(redact("host=h password='p w' dbname=x"), "host=h password=*** dbname=x");
//! assert_eq!(redact("PGPASSWORD=pw pg_ctl restart"), "PGPASSWORD=*** pg_ctl restart");
//! ```
//!
//! It errs on the side of hiding: a value is redacted when its key merely looks like a secret
//! (`password`, `sslpassword`, `MYSQL_PWD`, `db_pass`, `client_secret`, `api_token`, …).
//! [`redact_command`] also hides the attached short option of `mysql -pSECRET` and the
//! argument after `--password`.

use std::io::{self, Write};

/// What replaces a secret.
pub const MASK: &str = "***";

/// `text` with every URL password (userinfo), every secret-looking `key=value` (URL query
/// parameters, libpq key/value conninfo, `PGPASSWORD=` environment assignments, `--password=`
/// options) replaced by `***`.
pub fn redact(text: &str) -> String {
    redact_key_values(&redact_userinfo(text))
}

/// A shell command for the audit log: [`redact`], plus `-pSECRET` (mysql's attached password
/// option) and the word after a bare `--password` / `--token` option.
pub fn redact_command(command: &str) -> String {
    let text = redact(command);
    let mut out = String::with_capacity(text.len());
    let mut hide_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let bare = word.trim_matches(|c| c == '"' || c == '\'');
        if hide_next && !bare.is_empty() {
            out.push_str(MASK);
            hide_next = false;
            continue;
        }
        if let Some(rest) = bare.strip_prefix("-p") {
            if !rest.is_empty() && !rest.starts_with('-') && !bare.starts_with("--") {
                out.push_str("-p");
                out.push_str(MASK);
                continue;
            }
        }
        if bare.starts_with("--") && !bare.contains('=') && is_secret_key(bare) {
            hide_next = true;
        }
        out.push_str(word);
    }
    out
}

/// Whether a key names a secret: `password`, `sslpassword`, `PGPASSWORD`, `MYSQL_PWD`,
/// `db_pass`, `api_token`, `client_secret`, … but not `passes` or `tokens`.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "passphrase", "secret"]
        .iter()
        .any(|s| key.contains(s))
        || ["pass", "pwd", "token"].iter().any(|s| key.ends_with(s))
}

/// `scheme://user:password@host` → `scheme://user:***@host`, for every `://` in the text. The
/// userinfo ends at the last `@` before the next whitespace: a password with an unescaped `@` or
/// `/` is hidden whole (hiding too much is safe, too little is not).
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '`')
            .unwrap_or(tail.len());
        let segment = &tail[..end];
        match segment.rfind('@') {
            Some(at) => {
                let userinfo = &segment[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&segment[at..]);
            }
            None => out.push_str(segment),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `key=value` (optionally with spaces around `=`, a single- or double-quoted value) where the
/// key looks like a secret: the value becomes `***`. A bare value ends at whitespace (or, in
/// a URL, at `&` or `#`).
fn redact_key_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && is_key_byte(bytes[i]) {
            i += 1;
        }
        let key = &text[key_start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'=' || !is_secret_key(key) {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let value_end = match bytes.get(j) {
            Some(&q) if q == b'\'' || q == b'"' => {
                let mut k = j + 1;
                while k < bytes.len() && bytes[k] != q {
                    // libpq: a backslash escapes the next character inside quotes.
                    k += if bytes[k] == b'\\' { 2 } else { 1 };
                }
                (k + 1).min(bytes.len())
            }
            _ => {
                // In a URL's query `&` starts the next parameter; in a conninfo string or a
                // command it may be part of the password.
                let word_start = text[..key_start]
                    .char_indices()
                    .rev()
                    .find(|(_, c)| c.is_whitespace())
                    .map_or(0, |(w, c)| w + c.len_utf8());
                let in_url = text[word_start..key_start].contains("://");
                let mut k = j;
                while k < bytes.len()
                    && !bytes[k].is_ascii_whitespace()
                    && !(in_url && matches!(bytes[k], b'&' | b'#'))
                {
                    k += 1;
                }
                k
            }
        };
        if value_end == j {
            i = j;
            continue;
        }
        // Every index here sits next to an ASCII byte, so these are char boundaries.
        out.push_str(&text[copied..i]);
        out.push('=');
        out.push_str(MASK);
        copied = value_end;
        i = value_end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Every string in a JSON value through [`redact`] (redacting the JSON text instead could eat
/// a closing quote and leave it unparseable).
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => *s = redact(s),
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(fields) => fields.values_mut().for_each(redact_json),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Standard error through [`redact`], for the log subscriber: a line that would carry a
/// secret is written without it, whoever formatted it.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing-subscriber formats an event whole and writes it at once.
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_form_loses_its_password() {
        let cases = [
            ("postgres://u:s3cret@h:5/db", "postgres://u:***@h:5/db"),
            ("mysql://root:s3cret@h/db", "mysql://root:***@h/db"),
            (
                "postgres://u@h/db?password=s3cret",
                "postgres://u@h/db?password=***",
            ),
            (
                "postgres://u@h/db?sslmode=require&password=s3cret&connect_timeout=3",
                "postgres://u@h/db?sslmode=require&password=***&connect_timeout=3",
            ),
            (
                "host=h user=u password=s3cret dbname=d",
                "host=h user=u password=*** dbname=d",
            ),
            (
                "host=h password = 'it\\'s s3cret' port=5",
                "host=h password=*** port=5",
            ),
            (
                "primary_conninfo = 'host=h password=s3cret user=r'",
                "primary_conninfo = 'host=h password=*** user=r'",
            ),
            (
                "PGPASSWORD=s3cret pg_ctl restart",
                "PGPASSWORD=*** pg_ctl restart",
            ),
            ("x --password=s3cret y", "x --password=*** y"),
            ("postgres://u:p@ss:w/rd@h/db ok", "postgres://u:***@h/db ok"),
            (
                "error: cannot reach postgres://u:s3cret@h/db: refused",
                "error: cannot reach postgres://u:***@h/db: refused",
            ),
            ("postgres://h/db", "postgres://h/db"),
            ("no secrets here: a=b", "no secrets here: a=b"),
            ("sslpassword=s3cret", "sslpassword=***"),
            ("password=a&b;c#d e", "password=*** e"),
            (
                "MYSQL_PWD=s3cret db_pass=s3cret",
                "MYSQL_PWD=*** db_pass=***",
            ),
            (
                "passes=3 tokens=5 passed=yes",
                "passes=3 tokens=5 passed=yes",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
        assert_eq!(redact("password='a b c' x"), "password=*** x");
    }

    #[test]
    fn json_stays_json_without_its_secrets() {
        let mut v = serde_json::json!({
            "previous_auto_conf": "primary_conninfo = 'host=h password=s3cret'\n",
            "list": ["postgres://u:s3cret@h/db", 1, null],
        });
        redact_json(&mut v);
        let text = serde_json::to_string(&v).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["list"][0], "postgres://u:***@h/db");
    }

    #[test]
    fn restart_commands_lose_secret_looking_arguments() {
        let cases = [
            (
                "systemctl restart postgresql",
                "systemctl restart postgresql",
            ),
            (
                "mysqladmin -uroot -ps3cret shutdown",
                "mysqladmin -uroot -p*** shutdown",
            ),
            (
                "PGPASSWORD=s3cret pg_ctl -D /d restart",
                "PGPASSWORD=*** pg_ctl -D /d restart",
            ),
            ("tool --password s3cret --x", "tool --password *** --x"),
            ("tool --token=s3cret", "tool --token=***"),
            (
                "psql postgres://u:s3cret@h/db -c 'select 1'",
                "psql postgres://u:***@h/db -c 'select 1'",
            ),
            ("pg_ctl -p 5433 restart", "pg_ctl -p 5433 restart"),
        ];
        for (text, want) in cases {
            assert_eq!(redact_command(text), want, "{text}");
        }
    }
}
