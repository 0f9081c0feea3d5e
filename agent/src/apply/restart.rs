//! How a target is restarted when a knob needs it: a sandbox we own, or a command the operator
//! gives (`--restart-command "systemctl restart postgresql"`).

use std::process::Command;

use workloads::redact::{redact, redact_command};
use workloads::Sandbox;

/// Restarts a target's server.
pub trait Restarter: Send {
    fn restart(&mut self) -> Result<(), String>;

    /// Set a start-time option (MariaDB knobs that cannot change at run time). Only a
    /// sandbox can: dbtuner never edits a production my.cnf.
    fn set_start_option(&mut self, _name: &str, _value: Option<&str>) -> bool {
        false
    }

    fn describe(&self) -> String;
}

/// Runs a shell command; its output becomes the error on failure.
#[derive(Debug, Clone)]
pub struct CommandRestarter {
    pub command: String,
}

impl Restarter for CommandRestarter {
    fn restart(&mut self) -> Result<(), String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .output()
            .map_err(|e| format!("cannot run '{}': {e}", redact_command(&self.command)))?;
        if out.status.success() {
            Ok(())
        } else {
            // The command's output can echo its arguments, a URL or a conninfo string.
            Err(redact(&format!(
                "'{}' exited with {}: {}{}",
                redact_command(&self.command),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// For the audit log: arguments that look like secrets (`-pX`, `--password=X`,
    /// `PGPASSWORD=X`, a URL's password) are masked.
    fn describe(&self) -> String {
        format!("restart command '{}'", redact_command(&self.command))
    }
}

/// A sandbox dbtuner started itself.
#[derive(Debug)]
pub struct SandboxRestarter<'a> {
    pub sandbox: &'a mut Sandbox,
}

impl Restarter for SandboxRestarter<'_> {
    fn restart(&mut self) -> Result<(), String> {
        self.sandbox.restart().map_err(|e| e.to_string())
    }

    fn set_start_option(&mut self, name: &str, value: Option<&str>) -> bool {
        match value {
            Some(v) => self.sandbox.set_setting(name, v),
            None => self.sandbox.remove_setting(name),
        }
        true
    }

    fn describe(&self) -> String {
        "sandbox restart".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audited_restart_command_hides_secret_looking_arguments() {
        let r = CommandRestarter {
            command: "PGPASSWORD=hunter2 pg_ctl -D /d restart && mysqladmin -phunter2 ping --password=hunter2".into(),
        };
        let text = r.describe();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("pg_ctl -D /d restart"), "{text}");
        let mut failing = CommandRestarter {
            command: "echo postgres://u:hunter2@h/db; false --password hunter2".into(),
        };
        let err = failing.restart().unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("exited with"), "{err}");
    }
}
