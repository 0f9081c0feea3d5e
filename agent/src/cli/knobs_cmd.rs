//! `dbtuner knobs …`.

use std::process::ExitCode;

use anyhow::Result;

use super::args::KnobsCommand;

pub fn run(command: KnobsCommand) -> Result<ExitCode> {
    match command {
        KnobsCommand::List { engine, json } => {
            let catalog = knobs::catalog::demo(engine.into());
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
