//! `dbtuner report`: write a stored session's report again, or list the sessions.

use std::process::ExitCode;

use anyhow::Result;

use super::args::ReportArgs;
use crate::report;
use crate::BadInput;

pub async fn run(a: ReportArgs) -> Result<ExitCode> {
    let formats = a
        .format
        .split(',')
        .filter(|f| !f.trim().is_empty())
        .map(|f| f.parse::<reports::Format>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BadInput(e.to_string()))?;
    if formats.is_empty() {
        return Err(
            BadInput("--format is empty; use html, md, json or a list of them".into()).into(),
        );
    }
    let repo = open_existing(&a.repo).await?;
    if a.list {
        let sessions = report::list(repo.as_ref()).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&sessions)?);
        } else if sessions.is_empty() {
            println!("no sessions in {}", a.repo);
        } else {
            println!(
                "{:>4}  {:<6}  {:<20}  {:<13}  {:<12}  target",
                "id", "kind", "started", "status", "verdict"
            );
            for s in sessions {
                println!(
                    "{:>4}  {:<6}  {:<20}  {:<13}  {:<12}  {}",
                    s.id,
                    s.kind,
                    s.started,
                    s.status,
                    s.verdict.as_deref().unwrap_or("—"),
                    s.target
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(id) = a.session else {
        return Err(BadInput("give --session ID or --list".into()).into());
    };
    let built = report::build(repo.as_ref(), &a.repo, id).await?;
    let files = reports::render(&built, &formats)?;
    for path in report::write_files(&a.out, &files)? {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Open the repository without creating one: a report of a repository that is not there is a
/// mistyped path, not an empty repository.
async fn open_existing(spec: &str) -> Result<Box<dyn crate::repository::Repository>> {
    let is_url = spec.starts_with("postgres://") || spec.starts_with("postgresql://");
    let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
    if !is_url && !std::path::Path::new(path).is_file() {
        return Err(BadInput(format!(
            "no repository at '{spec}'; pass --repo FILE or URL (tune and demo keep theirs as --out/dbtuner.db, e.g. dbtuner-demo/dbtuner.db)"
        ))
        .into());
    }
    Ok(crate::repository::open(spec).await?)
}
