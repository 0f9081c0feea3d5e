//! Property tests: the value parser never panics and round-trips what it formats, and decoding
//! any point of the unit cube yields a configuration that validates and fits the guardrail's
//! arithmetic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knobs::{catalog, Engine, Hardware, MemoryEstimate, Space, SpaceOptions};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_text_never_panics(text in "\\PC{0,24}") {
        for engine in [Engine::Postgres, Engine::Mariadb] {
            for knob in catalog::for_engine(engine).unwrap() {
                let _ = knob.parse_value(&text);
            }
        }
        let _ = knobs::parse_bytes(&text);
        let _ = knobs::Version::parse(&text);
    }

    #[test]
    fn numbers_with_units_of_any_size_parse_or_say_why(
        text in "-?[0-9]{1,30}(\\.[0-9]{0,6})?(e[0-9]{1,4})? ?(B|kB|MB|GB|TB|PB|KiB|GiB|us|ms|s|min|h|d|%)?",
    ) {
        for engine in [Engine::Postgres, Engine::Mysql, Engine::Mariadb] {
            for knob in catalog::for_engine(engine).unwrap() {
                if let Err(e) = knob.parse_value(&text) {
                    prop_assert!(e.to_string().contains(&knob.name), "{e}");
                }
            }
        }
        let _ = knobs::parse_bytes(&text);
    }

    #[test]
    fn numeric_values_round_trip_through_their_human_form(x in 0.0f64..1.0, pick in 0usize..1000) {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let numeric: Vec<_> = cat.iter().filter(|k| k.range.is_some() && matches!(k.kind, knobs::KnobKind::Integer { .. })).collect();
        let knob = numeric[pick % numeric.len()];
        let space = Space::new(&cat, &SpaceOptions { knobs: vec![knob.name.clone()], ..Default::default() }).unwrap();
        let config = space.decode(&[x]).unwrap();
        let value = config.get(&knob.name).unwrap();
        let text = value.human(knob.unit());
        prop_assert_eq!(&knob.parse_value(&text).unwrap(), value, "{} via '{}'", knob.name, text);
    }

    #[test]
    fn decoded_points_always_validate(point in proptest::collection::vec(-0.5f64..1.5, 200), ram_gb in 1u64..512, risky in any::<bool>()) {
        for engine in [Engine::Postgres, Engine::Mysql, Engine::Mariadb] {
            let cat = catalog::for_engine(engine).unwrap();
            let options = SpaceOptions { hardware: Hardware { ram_bytes: ram_gb << 30, cpus: 4 }, allow_durability_risk: risky, ..Default::default() };
            let space = Space::new(&cat, &options).unwrap();
            let config = space.decode(&point[..space.dims()]).unwrap();
            for (name, value) in config.iter() {
                let knob = catalog::find(&cat, name).unwrap();
                knob.check(value).unwrap();
                prop_assert!(risky || knob.durability == knobs::Durability::Safe, "{name} in a safe space");
                prop_assert!(knob.durability != knobs::Durability::MayCorrupt, "{name} can corrupt data");
            }
            let estimate = MemoryEstimate::of(engine, &config, &cat);
            prop_assert!(estimate.total_bytes > 0);
        }
    }
}
