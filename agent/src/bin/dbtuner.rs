//! The `dbtuner` command. All logic lives in the `agent` library.

fn main() -> std::process::ExitCode {
    agent::cli::main()
}
