//! Workload files: any text, and any numbers in a well-formed file (the extremes of 64-bit
//! integers, huge and tiny floats, infinities, NaN), parse or fail with an error naming the
//! file; a spec that parses builds generators that draw in range without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand::SeedableRng;
use workloads::spec::{ParamSpec, ParamValue, WorkloadSpec};

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        Just("1e300".to_string()),
        Just("-1e308".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("nan".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("0.5".to_string()),
        Just("\"records\"".to_string()),
        Just("\"nope\"".to_string()),
    ]
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("uniform"),
        Just("zipfian"),
        Just("real"),
        Just("sequence"),
        Just("string"),
        Just("list"),
    ]
}

fn spec_text(kind: &str, a: &str, b: &str, c: &str, weight: &str) -> String {
    let param = match kind {
        "uniform" | "zipfian" | "real" => {
            format!(
                "kind = \"{kind}\"\nmin = {a}\nmax = {b}\n{}",
                if kind == "zipfian" {
                    format!("theta = {c}\n")
                } else {
                    String::new()
                }
            )
        }
        "sequence" => format!("kind = \"sequence\"\nstart = {a}\n"),
        "string" => format!("kind = \"string\"\nlength = {a}\n"),
        _ => format!("kind = \"list\"\nvalues = [{a}, {b}]\nweights = [{c}, {weight}]\n"),
    };
    format!(
        "version = 1\nname = \"p\"\n[variables]\nrecords = {c}\n[params.k]\n{param}[[transactions]]\nname = \"t\"\nweight = {weight}\nstatements = [\"SELECT :k\"]\n[[transactions]]\nname = \"u\"\nweight = 1\nstatements = [\"SELECT 1\"]\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_names_the_file(text in "\\PC{0,200}", toml_format in any::<bool>()) {
        if let Err(e) = WorkloadSpec::parse(&text, toml_format, "w.toml") {
            prop_assert!(e.to_string().contains("w.toml"), "{e}");
        }
    }

    #[test]
    fn extreme_numbers_are_refused_or_drawn_in_range(
        kind in kind(), a in number(), b in number(), c in number(), weight in number(), seed in any::<u64>(),
    ) {
        let text = spec_text(kind, &a, &b, &c, &weight);
        let spec = match WorkloadSpec::parse(&text, true, "w.toml") {
            Ok(spec) => spec,
            Err(e) => {
                prop_assert!(e.to_string().contains("w.toml"), "{e}");
                return Ok(());
            }
        };
        let p = &spec.params["k"];
        let generator = spec.generator(p).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..20 {
            let v = generator.draw(&mut rng);
            match (p, &v) {
                (ParamSpec::Uniform { min, max } | ParamSpec::Zipfian { min, max, .. }, ParamValue::Int(i)) => {
                    let (lo, hi) = (spec.bound(min) as i64, spec.bound(max) as i64);
                    prop_assert!(lo <= *i && *i <= hi, "{i} outside {lo}..={hi}");
                }
                (ParamSpec::Real { min, max }, ParamValue::Real(x)) => {
                    prop_assert!(spec.bound(min) <= *x && *x <= spec.bound(max), "{x}");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn the_widest_integer_ranges_draw_without_overflow() {
    let text = spec_text(
        "zipfian",
        &i64::MIN.to_string(),
        &i64::MAX.to_string(),
        "0.5",
        "1",
    );
    let spec = WorkloadSpec::parse(&text, true, "w.toml").unwrap();
    let g = spec.generator(&spec.params["k"]).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..1000 {
        let _ = g.draw(&mut rng);
    }
    let _ = workloads::spec::Zipf::new(10, i64::MAX, 0.99).draw(&mut rng);
    // A float beyond 64 bits and a real range too wide to draw from: refused, naming the field.
    for (kind, a, b) in [("uniform", "0", "1e300"), ("real", "-1e308", "1e308")] {
        let e = WorkloadSpec::parse(&spec_text(kind, a, b, "0.5", "1"), true, "w.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("params.k"), "{e}");
    }
}
