//! Target URLs: any input parses or fails with a clear error, never panics, and a password
//! never shows in what is printed, whichever form it takes (URL userinfo, `?password=`,
//! libpq key/value conninfo, `PGPASSWORD=`, command options).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use workloads::redact::{redact, redact_command};
use workloads::TargetUrl;

/// A password that cannot occur by chance in the text around it ("Zq" appears nowhere else).
fn password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!$()*+,;~._-]{6,20}".prop_map(|p| format!("Zq{p}"))
}

/// Neither the password nor its percent-encoded form.
fn hidden(text: &str, password: &str) -> bool {
    let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    !text.contains(password) && !text.contains(&encoded)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_says_why(text in "\\PC{0,40}") {
        match text.parse::<TargetUrl>() {
            Ok(url) => { let _ = url.to_string(); let _ = url.connect_timeout(); }
            Err(e) => prop_assert!(e.to_string().starts_with("bad target URL"), "{e}"),
        }
        let _ = redact(&text);
        let _ = redact_command(&text);
    }

    #[test]
    fn url_like_text_never_panics(
        scheme in prop_oneof!["postgres", "mysql", "mariadb", "http"],
        user in "[a-z:@%]{0,6}",
        host in "[a-z0-9.:\\[\\]%]{0,12}",
        query in "[a-z_=&%?#0-9-]{0,30}",
    ) {
        let text = format!("{scheme}://{user}@{host}/db?{query}");
        match text.parse::<TargetUrl>() {
            Ok(url) => { let _ = (url.to_string(), url.connect_timeout(), url.port()); }
            Err(e) => prop_assert!(e.to_string().starts_with("bad target URL"), "{e}"),
        }
    }

    #[test]
    fn passwords_never_print(password in password(), scheme in prop_oneof!["postgres", "mysql"]) {
        let forms = [
            format!("{scheme}://alice:{password}@db.example:5000/app"),
            format!("{scheme}://alice@db.example:5000/app?password={password}"),
            format!("{scheme}://alice@db.example/app?sslmode=prefer&password={password}&connect_timeout=5"),
        ];
        for text in &forms {
            let url: TargetUrl = text.parse().unwrap();
            prop_assert!(hidden(&url.to_string(), &password), "{url}");
            let debug = format!("{url:?}");
            prop_assert!(hidden(&debug, &password), "{debug}");
            prop_assert!(hidden(&redact(text), &password), "{text}");
            // And inside an error message or a log line.
            let line = format!("cannot reach {text}: connection refused");
            prop_assert!(hidden(&redact(&line), &password), "{line}");
        }
        let broken = [
            format!("{scheme}://alice:{password}@"),
            format!("{scheme}://alice@h/db?password={password}&connect_timeout=soon"),
        ];
        for text in &broken {
            let e = text.parse::<TargetUrl>().unwrap_err();
            prop_assert!(hidden(&e.to_string(), &password), "{e}");
        }
    }

    #[test]
    fn conninfo_env_and_command_passwords_never_print(password in password(), spaced in "[A-Za-z0-9 '\\\\=&]{1,12}") {
        let quoted = format!("Zq{spaced}").replace('\\', "\\\\").replace('\'', "\\'");
        let forms = [
            format!("host=db user=alice password={password} dbname=app"),
            format!("primary_conninfo = 'host=db password={password} user=r'"),
            format!("host=db password = '{quoted}' port=5"),
            format!("PGPASSWORD={password} pg_ctl -D /data restart"),
            format!("mysqladmin --password={password} shutdown"),
            format!("MYSQL_PWD={password} mysqladmin shutdown"),
        ];
        for text in &forms {
            let out = redact(text);
            prop_assert!(hidden(&out, &password), "{text} -> {out}");
            prop_assert!(!out.contains(&quoted), "{text} -> {out}");
        }
        for command in [
            format!("mysqladmin -uroot -p{password} shutdown"),
            format!("tool --password {password} --restart"),
        ] {
            let out = redact_command(&command);
            prop_assert!(hidden(&out, &password), "{command} -> {out}");
        }
    }
}

#[test]
fn connect_timeout_reads_like_libpq() {
    use std::time::Duration;
    let t = |s: &str| s.parse::<TargetUrl>().unwrap().connect_timeout();
    assert_eq!(t("postgres://h/db"), Some(Duration::from_secs(10)));
    assert_eq!(
        t("postgres://h/db?connect_timeout=30"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        t("postgres://h/db?connect_timeout=1"),
        Some(Duration::from_secs(2))
    );
    assert_eq!(t("mysql://h/db?connect_timeout=0"), None);
    let e = "postgres://h/db?connect_timeout=soon"
        .parse::<TargetUrl>()
        .unwrap_err();
    assert!(e.is_bad_input());
    assert!(e.to_string().contains("connect_timeout 'soon'"), "{e}");
}
