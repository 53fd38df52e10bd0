//! Replicas die with the bench, however it dies.
//!
//! * Every replica is started with `PR_SET_PDEATHSIG = SIGKILL`, so the
//!   kernel kills it when the bench exits, a `kill -9` included. The signal
//!   follows the *thread* that forked the child, so every replica is forked
//!   by one spawner thread that lives as long as the process; and a child
//!   whose parent died before the flag was set exits at once.
//! * Every replica's pid and start time go to a registry file beside the
//!   dataset (`<db>.replicas`). A run on the local backend first stops what
//!   an earlier run left there (a pid counts only while its start time
//!   matches, so a reused pid is never hit), and removes the file when it
//!   ends.
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{mpsc, Mutex, OnceLock};

type Job = (Command, mpsc::Sender<io::Result<Child>>);

/// The spawner thread's queue (None: the thread could not be started).
static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();

fn spawner() -> Option<&'static Mutex<mpsc::Sender<Job>>> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("replica-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// Starts `cmd` as a child that the kernel kills when this process dies.
pub(crate) fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    tie_to_parent(&mut cmd);
    let Some(queue) = spawner() else {
        return Err(io::Error::other(
            "the replica spawner thread could not start",
        ));
    };
    let (tx, rx) = mpsc::channel();
    queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("the replica spawner thread has stopped"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the replica spawner thread has stopped"))?
}

#[cfg(target_os = "linux")]
fn tie_to_parent(cmd: &mut Command) {
    use nix::libc;
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: it calls prctl(2) and
    // getppid(2), reads errno and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the flag was set: no signal will come.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn tie_to_parent(_cmd: &mut Command) {}

/// The registry file of the dataset `db`.
pub fn registry_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".replicas");
    db.with_file_name(name)
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`
/// field 22), which tells a pid's holder from a later one.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are
    // counted from its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Appends a replica to the registry.
pub(crate) fn register(registry: &Path, pid: u32) -> io::Result<()> {
    let ticks = start_ticks(pid).unwrap_or(0);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(registry)?;
    // One short write per line: appends from several threads do not mix.
    f.write_all(format!("{pid} {ticks}\n").as_bytes())
}

/// Kills (SIGKILL) every process in the registry that is still the one
/// registered, and removes the file. Returns the pids killed.
pub fn sweep(registry: &Path) -> io::Result<Vec<u32>> {
    let text = match std::fs::read_to_string(registry) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut killed = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(ticks))) = (
            it.next().map(str::parse::<u32>),
            it.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        if pid <= 1 || start_ticks(pid) != Some(ticks) {
            continue;
        }
        let target = nix::unistd::Pid::from_raw(pid as i32);
        if nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL).is_ok() {
            killed.push(pid);
        }
    }
    remove(registry)?;
    Ok(killed)
}

/// Removes the registry (no error when it is already gone).
pub fn remove(registry: &Path) -> io::Result<()> {
    match std::fs::remove_file(registry) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_sits_beside_the_dataset() {
        assert_eq!(
            registry_path(Path::new("data/trials.sqlite")),
            PathBuf::from("data/trials.sqlite.replicas")
        );
    }

    #[test]
    fn a_sweep_kills_registered_processes_and_spares_a_reused_pid() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("d.sqlite.replicas");
        let mut sleep = Command::new("sleep");
        sleep.arg("600");
        let mut live = spawn_tied(sleep).unwrap();
        let mut other = Command::new("sleep").arg("600").spawn().unwrap();
        register(&reg, live.id()).unwrap();
        // The same pid with another start time: a later process that reused
        // it, which must be left alone.
        let ticks = start_ticks(other.id()).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&reg)
            .unwrap()
            .write_all(format!("{} {}\nnot a line\n", other.id(), ticks + 1).as_bytes())
            .unwrap();
        let killed = sweep(&reg).unwrap();
        assert_eq!(killed, vec![live.id()]);
        assert!(live.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(
            other.try_wait().unwrap().is_none(),
            "the reused pid survives"
        );
        assert!(!reg.exists());
        assert_eq!(sweep(&reg).unwrap(), Vec::<u32>::new());
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
