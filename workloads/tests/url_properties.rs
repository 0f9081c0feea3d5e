//! Target URLs: any input parses or fails with a clear error, never panics, and a password
//! never shows in what is printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use workloads::TargetUrl;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_says_why(text in "\\PC{0,40}") {
        match text.parse::<TargetUrl>() {
            Ok(url) => { let _ = url.to_string(); }
            Err(e) => prop_assert!(e.to_string().starts_with("bad target URL"), "{e}"),
        }
    }

    #[test]
    fn passwords_never_print(password in "[A-Za-z0-9]{6,20}", scheme in prop_oneof!["postgres", "mysql"]) {
        let text = format!("{scheme}://alice:{password}@db.example:5000/app");
        let url: TargetUrl = text.parse().unwrap();
        prop_assert!(!url.to_string().contains(&password));
        let debug = format!("{:?}", url);
        prop_assert!(!debug.contains(&password));
        let broken = format!("{scheme}://alice:{password}@");
        if let Err(e) = broken.parse::<TargetUrl>() {
            prop_assert!(!e.to_string().contains(&password), "{e}");
        }
    }
}
