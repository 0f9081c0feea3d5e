//! `dbtuner knobs …`.

use std::process::ExitCode;

use anyhow::Result;

use super::args::{ConfigFormat, HeuristicArgs, KnobsCommand};
use crate::BadInput;

fn version_arg(engine: knobs::Engine, version: Option<&str>) -> Result<knobs::Version> {
    let Some(text) = version else {
        return Ok(knobs::Version::default_for(engine));
    };
    let v = knobs::Version::parse(text).ok_or_else(|| {
        BadInput(format!(
            "--version '{text}': not a version; use e.g. 15, 10.11 or 8.0.36"
        ))
    })?;
    if !v.is_supported(engine) {
        return Err(BadInput(format!("--version {text}: {} {v} is not in the catalog (PostgreSQL 13-18, MySQL 8.0, MariaDB 10.6-11.x)", engine.display_name())).into());
    }
    Ok(v)
}

fn heuristic(args: HeuristicArgs) -> Result<ExitCode> {
    use knobs::heuristic::{recommend, HeuristicInput};
    let engine: knobs::Engine = args.engine.into();
    let version = version_arg(engine, args.version.as_deref())?;
    let memory = knobs::parse_bytes(&args.memory)
        .map_err(|e| BadInput(format!("--memory '{}': {e}", args.memory)))?;
    let input = HeuristicInput {
        engine,
        version,
        memory_bytes: memory,
        cpus: args.cpus,
        connections: args.connections,
        storage: args.storage.parse()?,
        profile: args.profile.parse()?,
    };
    let h = recommend(&input)?;
    let catalog = knobs::catalog::for_version(engine, version)?;
    match args.format {
        ConfigFormat::Sql => knobs::render::sql(engine, &h.config, &catalog)
            .iter()
            .for_each(|l| println!("{l}")),
        ConfigFormat::Conf => knobs::render::conf(engine, &h.config, &catalog)
            .iter()
            .for_each(|l| println!("{l}")),
        ConfigFormat::Json => {
            let reasons: serde_json::Map<String, serde_json::Value> = h
                .reasons
                .iter()
                .map(|(k, r)| (k.clone(), serde_json::Value::String(r.clone())))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "engine": engine, "version": version.to_string(), "input": input, "config": h.config, "reasons": reasons })
                )?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: KnobsCommand) -> Result<ExitCode> {
    match command {
        KnobsCommand::Heuristic(args) => heuristic(args),
        KnobsCommand::List {
            engine,
            version,
            json,
        } => {
            let engine: knobs::Engine = engine.into();
            let catalog =
                knobs::catalog::for_version(engine, version_arg(engine, version.as_deref())?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&catalog)?);
            } else {
                for k in &catalog {
                    let apply = format!("{:?}", k.apply).to_lowercase();
                    let durability = match k.durability {
                        knobs::Durability::Safe => "",
                        knobs::Durability::MayLoseCommits => "  [may lose commits]",
                        knobs::Durability::MayCorrupt => "  [may corrupt data; never tuned]",
                    };
                    println!(
                        "{:<32} default {:<10} {:<8} {}{durability}",
                        k.name,
                        k.default.human(k.unit()),
                        apply,
                        k.description
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
