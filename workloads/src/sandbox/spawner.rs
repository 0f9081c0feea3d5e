//! Spawning server processes so that they never outlive us.
//!
//! Each server child gets `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when we die,
//! even by SIGKILL. The kernel ties that signal to the *thread* that forked, not the process,
//! so all spawns go through one thread that lives as long as the process: spawning from a
//! short-lived thread (a test thread, a tokio blocking thread) would kill the server when that
//! thread ends.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Request = (Command, mpsc::Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

/// Spawn `command` from the long-lived spawner thread with a parent-death signal.
pub(crate) fn spawn_tied_to_us(command: Command) -> io::Result<Child> {
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("dbtuner-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_with_death_signal(&mut command));
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start the spawner thread: {e}"));
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .map_err(|_| io::Error::other("spawner lock poisoned"))?
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread did not answer"))?
}

#[allow(unsafe_code)]
fn spawn_with_death_signal(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe calls prctl, getppid and _exit-free error returns. It runs after
    // std has switched uid/gid, which matters because a credential change clears PDEATHSIG.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(io::Error::from)?;
            // We may have died between fork and prctl: then nobody would kill the child.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
    command.spawn()
}
