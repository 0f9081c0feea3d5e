//! Plan files: any text, and any values in a well-formed plan, parse or fail with a clear
//! error, never panic; every value of a plan that parses is then checked against the catalog
//! the way `apply` checks it (no panic there either).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agent::apply::Plan;
use knobs::{catalog, Engine};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        Just("inf".to_string()),
        Just("nan".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[0-9]{1,25}(\\.[0-9]{0,4})?(kB|MB|GB|TB|B|ms|s|min|h|d)?".prop_map(|v| format!("\"{v}\"")),
        "\\PC{0,12}".prop_map(|v| format!("{v:?}")),
    ]
}

fn knob_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("shared_buffers".to_string()),
        Just("work_mem".to_string()),
        Just("max_connections".to_string()),
        Just("random_page_cost".to_string()),
        Just("checkpoint_timeout".to_string()),
        Just("jit".to_string()),
        Just("innodb_buffer_pool_size".to_string()),
        "[a-z_]{1,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_says_why(text in "\\PC{0,200}", toml_format in any::<bool>()) {
        if let Err(e) = Plan::parse(&text, toml_format) {
            prop_assert!(!e.trim().is_empty());
        }
    }

    #[test]
    fn any_values_parse_or_are_refused_by_the_catalog(
        knobs in proptest::collection::vec((knob_name(), value()), 0..6),
        engine in prop_oneof![Just("postgres"), Just("mariadb"), Just("oracle")],
        digest in any::<bool>(),
    ) {
        let mut text = format!("engine = \"{engine}\"\n");
        if digest {
            text.push_str("digest = \"00\"\n");
        }
        text.push_str("[knobs]\n");
        for (name, v) in &knobs {
            text.push_str(&format!("{name} = {v}\n"));
        }
        let plan = match Plan::parse(&text, true) {
            Ok(plan) => plan,
            Err(e) => {
                prop_assert!(!e.trim().is_empty());
                return Ok(());
            }
        };
        for engine in [Engine::Postgres, Engine::Mariadb] {
            let cat = catalog::for_engine(engine).unwrap();
            for (name, v) in &plan.knobs {
                if let Ok(knob) = catalog::find(&cat, name) {
                    if let Err(e) = knob.parse_value(&v.as_text()) {
                        prop_assert!(e.to_string().contains(name.as_str()), "{e}");
                    }
                }
            }
        }
        // As JSON too.
        let _ = Plan::parse(&plan.to_json().unwrap(), false);
    }
}
