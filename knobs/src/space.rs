//! The search space: a chosen set of knobs mapped to the unit hypercube and back. Decoding
//! never yields a value outside the knob's server bounds, and knobs that cost durability are
//! only in a space the user opted into.

use serde::{Deserialize, Serialize};

use crate::{
    catalog, Config, Durability, Hardware, Knob, KnobError, KnobKind, Range, Result, Scale, Unit,
    Value,
};

/// What goes into a space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpaceOptions {
    /// Knob names; empty means every searchable knob of the catalog that the options allow.
    pub knobs: Vec<String>,
    /// Hardware for RAM-relative ranges.
    pub hardware: Hardware,
    /// Admit knobs that can lose recent commits on a crash.
    pub allow_durability_risk: bool,
}

impl Default for SpaceOptions {
    fn default() -> Self {
        SpaceOptions {
            knobs: Vec::new(),
            hardware: Hardware {
                ram_bytes: 8 << 30,
                cpus: 4,
            },
            allow_durability_risk: false,
        }
    }
}

/// One dimension of the space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub knob: Knob,
    /// Numeric search range (for integer and real knobs).
    pub range: Option<Range>,
}

/// A search space over knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    dims: Vec<Dimension>,
}

impl Space {
    pub fn new(catalog: &[Knob], options: &SpaceOptions) -> Result<Space> {
        let explicit = !options.knobs.is_empty();
        let knobs: Vec<&Knob> = if explicit {
            options
                .knobs
                .iter()
                .map(|n| catalog::find(catalog, n))
                .collect::<Result<_>>()?
        } else {
            catalog.iter().collect()
        };
        let mut dims = Vec::new();
        for knob in knobs {
            match knob.durability {
                Durability::MayCorrupt if explicit => {
                    return Err(KnobError::Space(format!(
                        "{} can corrupt data on a crash; it is never tuned",
                        knob.name
                    )))
                }
                Durability::MayCorrupt => continue,
                Durability::MayLoseCommits if !options.allow_durability_risk => {
                    if explicit {
                        return Err(KnobError::Space(format!("{} can lose committed transactions on a crash; pass --allow-durability-risk to search it", knob.name)));
                    }
                    continue;
                }
                _ => {}
            }
            let range = resolve_range(knob, &options.hardware);
            let searchable =
                matches!(knob.kind, KnobKind::Bool | KnobKind::Enum { .. }) || range.is_some();
            if !searchable {
                if explicit {
                    return Err(KnobError::Space(format!(
                        "{} has no tuning range",
                        knob.name
                    )));
                }
                continue;
            }
            dims.push(Dimension {
                knob: knob.clone(),
                range,
            });
        }
        if dims.is_empty() {
            return Err(KnobError::Space("no searchable knobs".into()));
        }
        Ok(Space { dims })
    }

    pub fn dims(&self) -> usize {
        self.dims.len()
    }

    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// Map a point of the unit hypercube to a valid configuration. Coordinates are clamped to
    /// [0, 1], so any input decodes to values within the server's bounds.
    pub fn decode(&self, point: &[f64]) -> Result<Config> {
        if point.len() != self.dims.len() {
            return Err(KnobError::Space(format!(
                "point has {} coordinates, space has {}",
                point.len(),
                self.dims.len()
            )));
        }
        let mut config = Config::new();
        for (dim, &x) in self.dims.iter().zip(point) {
            let x = if x.is_finite() {
                x.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let value = match (&dim.knob.kind, dim.range) {
                (KnobKind::Bool, _) => Value::Bool(x >= 0.5),
                (KnobKind::Enum { values }, _) => {
                    let i = ((x * values.len() as f64) as usize).min(values.len() - 1);
                    Value::Enum(values[i].clone())
                }
                (KnobKind::Integer { min, max, unit }, Some(r)) => {
                    Value::Int(round_int(from_unit(x, r), *unit).clamp(*min, *max))
                }
                (KnobKind::Real { min, max, .. }, Some(r)) => {
                    Value::Real(((from_unit(x, r) * 1000.0).round() / 1000.0).clamp(*min, *max))
                }
                _ => {
                    return Err(KnobError::Space(format!(
                        "{} has no tuning range",
                        dim.knob.name
                    )))
                }
            };
            dim.knob.check(&value)?;
            config.set(&dim.knob.name, value);
        }
        Ok(config)
    }

    /// Map a configuration to the unit hypercube (knobs it lacks take their defaults).
    pub fn encode(&self, config: &Config) -> Vec<f64> {
        self.dims
            .iter()
            .map(|dim| {
                let value = config.effective(&dim.knob);
                match (&dim.knob.kind, value, dim.range) {
                    (KnobKind::Bool, Value::Bool(b), _) => {
                        if *b {
                            0.75
                        } else {
                            0.25
                        }
                    }
                    (KnobKind::Enum { values }, Value::Enum(v), _) => {
                        let i = values.iter().position(|x| x == v).unwrap_or(0);
                        (i as f64 + 0.5) / values.len() as f64
                    }
                    (_, v, Some(r)) => v.as_f64().map(|v| to_unit(v, r)).unwrap_or(0.0),
                    _ => 0.0,
                }
            })
            .collect()
    }
}

fn resolve_range(knob: &Knob, hardware: &Hardware) -> Option<Range> {
    if let Some((low, high)) = knob.ram_fraction {
        let ram = hardware.ram_bytes as f64;
        return Some(Range {
            low: (low * ram).max(8.0 * 1024.0 * 1024.0),
            high: high * ram,
            scale: Scale::Log,
        });
    }
    knob.range
}

fn from_unit(x: f64, r: Range) -> f64 {
    match r.scale {
        Scale::Linear => r.low + x * (r.high - r.low),
        Scale::Log => {
            // Log ranges may start at 0 (0 = off); shift by one so that the log is defined.
            let (lo, hi) = ((r.low + 1.0).ln(), (r.high + 1.0).ln());
            (lo + x * (hi - lo)).exp() - 1.0
        }
    }
}

fn to_unit(v: f64, r: Range) -> f64 {
    let x = match r.scale {
        Scale::Linear => (v - r.low) / (r.high - r.low),
        Scale::Log => {
            ((v.max(r.low) + 1.0).ln() - (r.low + 1.0).ln())
                / ((r.high + 1.0).ln() - (r.low + 1.0).ln())
        }
    };
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Round to a granularity people and servers like: whole MB for sizes of 16 MB and more.
fn round_int(v: f64, unit: Unit) -> i64 {
    let v = v.round() as i64;
    match unit {
        Unit::Bytes if v >= 16 << 20 => (v + (1 << 19)) / (1 << 20) * (1 << 20),
        Unit::Bytes => (v + 512) / 1024 * 1024,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;

    fn pseudo_random_points(dims: usize, n: usize) -> Vec<Vec<f64>> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                (0..dims)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 10_000) as f64 / 9_999.0 * 1.4 - 0.2
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn decoded_points_are_always_valid() {
        for engine in [Engine::Postgres, Engine::Mariadb] {
            let cat = catalog::for_engine(engine).unwrap();
            let space = Space::new(
                &cat,
                &SpaceOptions {
                    allow_durability_risk: true,
                    ..Default::default()
                },
            )
            .unwrap();
            for point in pseudo_random_points(space.dims(), 500) {
                let config = space.decode(&point).unwrap();
                for (name, value) in config.iter() {
                    catalog::find(&cat, name).unwrap().check(value).unwrap();
                }
            }
        }
    }

    #[test]
    fn encode_decode_round_trips_each_kind() {
        let cat = catalog::for_engine(Engine::Mariadb).unwrap();
        let space = Space::new(&cat, &SpaceOptions::default()).unwrap();
        let config = Config::parse_pairs(
            &cat,
            [
                ("innodb_buffer_pool_size", "1GB"),
                ("innodb_flush_neighbors", "0"),
                ("innodb_adaptive_hash_index", "on"),
                ("innodb_io_capacity", "2000"),
            ],
        )
        .unwrap();
        let decoded = space.decode(&space.encode(&config)).unwrap();
        for (name, value) in config.iter() {
            assert_eq!(decoded.get(name), Some(value), "{name}");
        }
    }

    #[test]
    fn durability_knobs_need_opt_in_and_corrupting_ones_never_enter() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let safe = Space::new(&cat, &SpaceOptions::default()).unwrap();
        assert!(safe
            .dimensions()
            .iter()
            .all(|d| d.knob.durability == Durability::Safe));
        let named = SpaceOptions {
            knobs: vec!["synchronous_commit".into()],
            ..Default::default()
        };
        let err = Space::new(&cat, &named).unwrap_err();
        assert!(err.to_string().contains("--allow-durability-risk"), "{err}");
        let risky = Space::new(
            &cat,
            &SpaceOptions {
                allow_durability_risk: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(risky
            .dimensions()
            .iter()
            .any(|d| d.knob.name == "synchronous_commit"));
        assert!(risky
            .dimensions()
            .iter()
            .all(|d| d.knob.durability != Durability::MayCorrupt));
        let fsync = SpaceOptions {
            knobs: vec!["fsync".into()],
            allow_durability_risk: true,
            ..Default::default()
        };
        assert!(Space::new(&cat, &fsync)
            .unwrap_err()
            .to_string()
            .contains("never tuned"));
    }
}
