//! One script run: `bash <script>` in its own process group with a clean environment
//! (and another user, if so configured: `script_env`), stdout and stderr read at once
//! with caps, a timeout that ends in SIGTERM, a grace, then SIGKILL to the whole
//! group, and every process it starts reaped. [`stop_all_scripts`] ends every running
//! script's group when the sidecar stops.
//!
//! Output is returned raw; turning `key=value` lines into values is `parse`'s job.
//!
//! # Reaping, and why runs never lose their exit status to the PID-1 reaper
//!
//! When the sidecar is PID 1 of a container, orphans of every script (a `cmd &` left
//! behind, a double fork) are reparented to it and must be reaped, which only a
//! `waitpid(-1)` loop can do: it alone sees children the sidecar never started. But
//! `waitpid(-1)` also takes the exit status of the scripts that [`run`] is waiting
//! for. So every script the runner starts is entered in one table, `CHILDREN`,
//! and the table decides who waits:
//!
//! - Without the reaper (not PID 1) each run waits for its own pid: it watches with
//!   `waitid(WNOWAIT)`, which leaves the zombie in place so the pid (and with it the
//!   process-group id) cannot be reused before the final group SIGKILL, and reaps it
//!   last.
//! - With the reaper, only the reaper calls `waitpid`: it hands the status of a pid in
//!   the table to the table, and drops the status of anything else (an orphan).
//!
//! The table's lock is held across `spawn` and the registration of the new pid, and
//! the reaper takes the lock before it looks a reaped pid up, so it can never reap a
//! script that exits before it is registered and mistake it for an orphan. A run
//! checks under the same lock whether the reaper is running before each direct wait,
//! and the reaper marks itself running under that lock before its first
//! `waitpid(-1)`, so starting the reaper while runs are under way is safe too.
//!
//! Not chosen: `PR_SET_CHILD_SUBREAPER` with a per-run `waitpid(-pgid)`. It reaps only
//! what stays in the script's group (a `setsid` daemon escapes it), and as PID 1 we
//! still get every other orphan of the container (`kubectl exec` leftovers), which
//! again needs a `waitpid(-1)` loop.
//!
//! With the reaper running, nothing else in this process may wait for its own
//! children (`std::process::Command::status` and friends would see ECHILD): start
//! every child process of the sidecar through this module.
//!
//! # Stopping
//!
//! On SIGTERM the sidecar must not leave its scripts behind. [`stop_all_scripts`]
//! marks the table as stopping (no new spawn starts), sends SIGTERM to the group of
//! every registered script, waits up to the grace for the scripts to exit, then sends
//! SIGKILL to every group whose leader is still unreaped, which also ends a
//! background child that outlived its script's SIGTERM. Without the reaper, runs
//! hold off reaping while the stop is under way, so every group id it signals is
//! still held by its leader (alive or a zombie) and cannot have been reused. With
//! the reaper (PID 1) a reaped leader's group is not signalled again; when PID 1
//! exits, the kernel kills whatever is left in the container's PID namespace anyway.
//! What a run that already ended left in the background is not tracked, and is not
//! stopped here (a pod's or a unit's end takes it).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::script_env::{RunAs, ScriptEnv};

/// How long the pipes are still read after the script itself has exited. Anything it
/// left in the background that still holds stdout must not hold the run up.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);
/// Bounds of the wait between checks for the script's exit: short at first so quick
/// scripts return quickly, longer later so a slow one costs few wake-ups.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(50);
/// Size of one read(2) from a pipe.
const READ_CHUNK: usize = 64 * 1024;
/// Reads from one pipe per wake-up, so a script writing as fast as we read cannot
/// keep the loop from checking its deadlines.
const READS_PER_WAKE: usize = 16;
/// How long a SIGKILLed script may take to die before we say so in the log.
const SLOW_DEATH: Duration = Duration::from_secs(5);
/// How long [`stop_all_scripts`] waits for the runs to reap their SIGKILLed scripts.
const STOP_REAP_WAIT: Duration = Duration::from_secs(1);
/// Stdout bytes a run keeps by default (`ScriptRun::output_limit`); the rest is read,
/// counted and dropped.
pub const STDOUT_LIMIT: usize = 1 << 20;
/// Stderr bytes a run keeps for the log by default (`ScriptRun::stderr_limit`).
pub const STDERR_LIMIT: usize = 4 << 10;

/// One run of one script.
#[derive(Debug, Clone)]
pub struct ScriptRun<'a> {
    /// Absolute path, already checked to be inside the scripts directory.
    pub script: &'a Path,
    /// The script's whole environment.
    pub env: &'a ScriptEnv,
    /// The user the script runs as, if not the sidecar's.
    pub run_as: Option<&'a RunAs>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL to the script's process group.
    pub grace: Duration,
    /// Stdout bytes kept; the rest is read, counted and dropped.
    pub output_limit: usize,
    /// Stderr bytes kept; the rest is read, counted and dropped.
    pub stderr_limit: usize,
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The script's exit code. `-1` only if its status was lost because something
    /// else in this process waited for it (logged as an error; a bug).
    Exited(i32),
    /// The signal that ended the script, other than our own timeout signals.
    Signaled(i32),
    /// The run passed its timeout; the group was sent SIGTERM, then SIGKILL.
    TimedOut,
    /// bash could not be started.
    SpawnFailed(SpawnError),
}

/// bash could not be started: `starting bash /scripts/a.sh in /scripts: …`.
#[derive(Debug, thiserror::Error)]
#[error("starting {} {} in {}: {source}", interpreter.display(), script.display(), dir.display())]
pub struct SpawnError {
    pub interpreter: PathBuf,
    pub script: PathBuf,
    pub dir: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The same start failing the same way (an `io::Error` has only its kind to compare).
impl PartialEq for SpawnError {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.interpreter,
            &self.script,
            &self.dir,
            self.source.kind(),
        ) == (
            &other.interpreter,
            &other.script,
            &other.dir,
            other.source.kind(),
        )
    }
}

impl Eq for SpawnError {}

#[derive(Debug)]
pub struct RunOutcome {
    pub ending: Ending,
    pub stdout: Vec<u8>,
    pub stdout_discarded: u64,
    pub stderr: Vec<u8>,
    pub stderr_discarded: u64,
    pub duration: Duration,
}

/// Runs `bash <spec.script>` and returns its ending and capped output. Blocks the
/// calling thread for at most about `timeout + grace` (longer only if a SIGKILLed
/// process is stuck in the kernel: the run then waits, so the next run of the same
/// script cannot start beside it).
pub fn run(spec: &ScriptRun) -> RunOutcome {
    run_with(spec, OsStr::new("bash"))
}

fn run_with(spec: &ScriptRun, interpreter: &OsStr) -> RunOutcome {
    let started = Instant::now();
    let (ending, stdout, stderr) = match spawn(spec, interpreter) {
        Ok((child, out, err)) => {
            let mut streams = [
                Stream::new(out, spec.output_limit),
                Stream::new(err, spec.stderr_limit),
            ];
            let ending = supervise(spec, &child, &mut streams, started);
            let [out, err] = streams.map(|s| s.capture);
            (ending, out, err)
        }
        Err(error) => {
            tracing::warn!(script = %spec.script.display(), %error, "script not started");
            (Ending::SpawnFailed(error), Capture::new(0), Capture::new(0))
        }
    };
    let outcome = RunOutcome {
        ending,
        stdout: stdout.kept,
        stdout_discarded: stdout.discarded,
        stderr: stderr.kept,
        stderr_discarded: stderr.discarded,
        duration: started.elapsed(),
    };
    log_stderr(spec.script, &outcome);
    outcome
}

/// Starts the script and registers its pid. Returns the child and its two pipes.
fn spawn<'a>(
    spec: &ScriptRun<'a>,
    interpreter: &OsStr,
) -> Result<(ScriptProcess<'a>, Option<File>, Option<File>), SpawnError> {
    // The validated path is absolute, so it has a parent; "/" is only a fallback.
    let dir = spec.script.parent().unwrap_or(Path::new("/"));
    let mut command = Command::new(interpreter);
    spec.env.apply(&mut command);
    if let Some(run_as) = spec.run_as {
        run_as.apply(&mut command);
    }
    command
        .arg(spec.script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so the timeout signals reach everything the script started
        // and nothing of ours.
        .process_group(0);

    let spawn_error = |source| SpawnError {
        interpreter: PathBuf::from(interpreter),
        script: spec.script.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    };
    // Held across spawn and registration: see the module doc.
    let mut table = CHILDREN.lock();
    if table.stopping {
        return Err(spawn_error(io::Error::other("the sidecar is stopping")));
    }
    let mut child = command.spawn().map_err(spawn_error)?;
    let pid = Pid::from_raw(child.id() as i32);
    table.exits.insert(pid.as_raw(), None);
    table.spawns += 1;
    drop(table);
    CHILDREN.spawned.notify_all();

    // `child` is dropped without std's wait: from here on ScriptProcess waits.
    let out = child.stdout.take().map(|p| File::from(OwnedFd::from(p)));
    let err = child.stderr.take().map(|p| File::from(OwnedFd::from(p)));
    for pipe in [&out, &err].into_iter().flatten() {
        // Non-blocking so one read too many can never stall the loop.
        if let Err(e) = fcntl(pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
            tracing::warn!(script = %spec.script.display(), error = %e, "setting a script pipe non-blocking");
        }
    }
    Ok((
        ScriptProcess {
            pid,
            script: spec.script,
        },
        out,
        err,
    ))
}

/// Reads the pipes until the script has exited and its pipes are closed (or the
/// drain deadline passed), enforcing the timeout; then reaps it.
fn supervise(
    spec: &ScriptRun,
    child: &ScriptProcess,
    streams: &mut [Stream; 2],
    started: Instant,
) -> Ending {
    let script = spec.script;
    let deadline = started + spec.timeout;
    let mut terminated_at: Option<Instant> = None;
    let mut killed_at: Option<Instant> = None;
    let mut exited: Option<(Exit, Instant)> = None;
    let mut slow_death_logged = false;
    let mut tick = MIN_TICK;
    let mut buf = vec![0u8; READ_CHUNK];

    loop {
        let now = Instant::now();
        if exited.is_none() {
            exited = child.exit().map(|exit| (exit, now));
        }
        let next_event = match (&exited, terminated_at, killed_at) {
            (Some((_, at)), _, _) => {
                let drain_end = *at + DRAIN_AFTER_EXIT;
                if streams.iter().all(|s| !s.is_open()) {
                    break;
                }
                if now >= drain_end {
                    tracing::warn!(
                        script = %script.display(),
                        "script exited but something it started still holds its output; stopped reading"
                    );
                    break;
                }
                drain_end
            }
            (None, None, _) if now >= deadline => {
                tracing::warn!(script = %script.display(), timeout = ?spec.timeout, "script timed out; sending SIGTERM to its group");
                signal_group(&script.display(), child.pid, Signal::SIGTERM);
                // A stopped process acts on SIGTERM only once continued.
                signal_group(&script.display(), child.pid, Signal::SIGCONT);
                terminated_at = Some(now);
                now + spec.grace
            }
            (None, None, _) => deadline,
            (None, Some(term), None) if now >= term + spec.grace => {
                tracing::warn!(script = %script.display(), grace = ?spec.grace, "script still running after SIGTERM; sending SIGKILL to its group");
                signal_group(&script.display(), child.pid, Signal::SIGKILL);
                killed_at = Some(now);
                now + MAX_TICK
            }
            (None, Some(term), None) => term + spec.grace,
            (None, _, Some(killed)) => {
                if !slow_death_logged && now >= killed + SLOW_DEATH {
                    tracing::error!(script = %script.display(), "script survives SIGKILL (stuck in the kernel?); still waiting for it");
                    slow_death_logged = true;
                }
                now + MAX_TICK
            }
        };

        let wait = next_event.saturating_duration_since(now).min(tick);
        if wait_and_read(script, streams, &mut buf, wait) {
            // A pipe closed: the script is most likely exiting; look again soon.
            tick = MIN_TICK;
        } else {
            tick = (tick * 2).min(MAX_TICK);
        }
    }

    let timed_out = terminated_at.is_some();
    if timed_out {
        // What the script left in its group (a `sleep &` that ignored SIGTERM, or
        // anything when the script itself died of SIGTERM) goes too. In direct mode
        // the script is still an unreaped zombie here, so its pid, the group id, has
        // not been reused.
        signal_group(&script.display(), child.pid, Signal::SIGKILL);
    }
    let exit = child.reap();
    if timed_out {
        return Ending::TimedOut;
    }
    match exit {
        Exit::Status(WaitStatus::Exited(_, code)) => Ending::Exited(code),
        Exit::Status(WaitStatus::Signaled(_, signal, _)) => Ending::Signaled(signal as i32),
        Exit::Status(other) => {
            // waitid/waitpid with only WEXITED cannot report anything else.
            tracing::error!(script = %script.display(), status = ?other, "unexpected wait status");
            Ending::Exited(-1)
        }
        Exit::Lost => Ending::Exited(-1),
    }
}

/// Waits up to `wait` for output and reads what arrived. Returns whether a pipe
/// closed.
fn wait_and_read(script: &Path, streams: &mut [Stream; 2], buf: &mut [u8], wait: Duration) -> bool {
    // Round up: a 0 ms poll until a deadline 0.4 ms away would spin.
    let millis = wait.as_micros().div_ceil(1000).min(u128::from(u16::MAX)) as u16;
    let mut ready = [false; 2];
    {
        let mut fds = Vec::with_capacity(2);
        let mut which = Vec::with_capacity(2);
        for (i, stream) in streams.iter().enumerate() {
            if let Some(file) = &stream.file {
                fds.push(PollFd::new(file.as_fd(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        if fds.is_empty() {
            std::thread::sleep(wait);
            return false;
        }
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(_) => {
                for (fd, &i) in fds.iter().zip(&which) {
                    ready[i] = fd.revents().is_some_and(|r| !r.is_empty());
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                // Not expected for two valid pipe fds; sleep so we do not spin.
                tracing::warn!(script = %script.display(), error = %e, "poll on script pipes");
                std::thread::sleep(wait);
            }
        }
    }
    let mut closed = false;
    for (stream, ready) in streams.iter_mut().zip(ready) {
        if ready {
            closed |= stream.read_available(script, buf);
        }
    }
    closed
}

/// Signals the process group `pgid` of `script` (what the log calls it).
fn signal_group(script: &dyn std::fmt::Display, pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        // The group is already gone: nothing left to signal.
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(script = %script, pgid = pgid.as_raw(), signal = %signal, error = %e, "signalling the script's process group");
        }
    }
}

/// Ends every running script's process group, for the sidecar's exit: SIGTERM, up to
/// `grace` for the scripts to exit, then SIGKILL, then up to [`STOP_REAP_WAIT`] for
/// their runs to reap them. No script starts after it is called. See the module doc.
pub fn stop_all_scripts(grace: Duration) {
    let started = Instant::now();
    let groups: Vec<Pid> = {
        let mut table = CHILDREN.lock();
        table.stopping = true;
        table.hold_reaps = true;
        table.unreaped().collect()
    };
    if groups.is_empty() {
        CHILDREN.lock().hold_reaps = false;
        return;
    }
    tracing::info!(scripts = groups.len(), grace = ?grace, "stopping the running scripts: SIGTERM to their process groups");
    // The table has pids, not paths: the log names the group.
    let stopping = "a running script (stopping)";
    for &pgid in &groups {
        signal_group(&stopping, pgid, Signal::SIGTERM);
        signal_group(&stopping, pgid, Signal::SIGCONT);
    }
    loop {
        let running = {
            let table = CHILDREN.lock();
            groups.iter().filter(|&&pid| !table.has_exited(pid)).count()
        };
        let elapsed = started.elapsed();
        if running == 0 || elapsed >= grace {
            break;
        }
        std::thread::sleep((grace - elapsed).min(MAX_TICK));
    }
    {
        // Under the lock: a leader is unreaped (its group id held) while listed so.
        let mut table = CHILDREN.lock();
        let left: Vec<Pid> = table.unreaped().collect();
        for pgid in left {
            signal_group(&stopping, pgid, Signal::SIGKILL);
        }
        table.hold_reaps = false;
    }
    CHILDREN.reaped.notify_all();
    let deadline = Instant::now() + STOP_REAP_WAIT;
    while !CHILDREN.lock().exits.is_empty() {
        if Instant::now() >= deadline {
            tracing::warn!("scripts still unreaped at exit (stuck in the kernel?)");
            break;
        }
        std::thread::sleep(MIN_TICK);
    }
}

fn log_stderr(script: &Path, outcome: &RunOutcome) {
    if outcome.stderr.is_empty() {
        return;
    }
    // `?` on a str escapes newlines: one event, one line.
    let text = String::from_utf8_lossy(&outcome.stderr);
    if outcome.ending == Ending::Exited(0) {
        tracing::debug!(script = %script.display(), stderr = ?text, stderr_discarded = outcome.stderr_discarded, "script stderr");
    } else {
        tracing::warn!(script = %script.display(), stderr = ?text, stderr_discarded = outcome.stderr_discarded, "script stderr");
    }
}

/// The first `limit` bytes of a stream and a count of the rest.
#[derive(Debug)]
struct Capture {
    kept: Vec<u8>,
    discarded: u64,
    limit: usize,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Capture {
            kept: Vec::new(),
            discarded: 0,
            limit,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.len());
        let keep = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..keep]);
        self.discarded += (bytes.len() - keep) as u64;
    }
}

/// One of the script's output pipes; `None` once it reached EOF or failed.
struct Stream {
    file: Option<File>,
    capture: Capture,
}

impl Stream {
    fn new(file: Option<File>, limit: usize) -> Self {
        Stream {
            file,
            capture: Capture::new(limit),
        }
    }

    fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Reads what the pipe holds now, a bounded amount. Returns whether it closed.
    fn read_available(&mut self, script: &Path, buf: &mut [u8]) -> bool {
        let Some(file) = &mut self.file else {
            return false;
        };
        for _ in 0..READS_PER_WAKE {
            match file.read(buf) {
                Ok(0) => {
                    self.file = None;
                    return true;
                }
                Ok(n) => self.capture.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(script = %script.display(), error = %e, "reading script output; closing the pipe");
                    self.file = None;
                    return true;
                }
            }
        }
        false
    }
}

/// How the script's process ended, as far as we could learn.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Status(WaitStatus),
    /// Someone else in this process took the status (logged).
    Lost,
}

/// A started script, registered in [`CHILDREN`] until reaped.
struct ScriptProcess<'a> {
    pid: Pid,
    script: &'a Path,
}

impl ScriptProcess<'_> {
    /// Whether the script has exited, without reaping it. Never blocks.
    fn exit(&self) -> Option<Exit> {
        let table = CHILDREN.lock();
        if table.reaper_running {
            return table
                .exits
                .get(&self.pid.as_raw())
                .copied()
                .flatten()
                .map(Exit::Status);
        }
        // WNOWAIT: the zombie stays, holding the pid and the group id until `reap`.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(self.pid), flags) {
            Ok(WaitStatus::StillAlive) => None,
            Ok(status) => Some(Exit::Status(status)),
            Err(e) => Some(self.lost(e)),
        }
    }

    /// Reaps the script, which [`exit`](Self::exit) has seen exit or which was
    /// SIGKILLed. Waits for the reaper to hand over the status if it took it.
    fn reap(&self) -> Exit {
        let mut table = CHILDREN.lock();
        loop {
            if table.reaper_running {
                if let Some(Some(status)) = table.exits.get(&self.pid.as_raw()).copied() {
                    return Exit::Status(status);
                }
                // The reaper may have reaped it and not yet taken the lock.
                table = CHILDREN
                    .reaped
                    .wait_timeout(table, MAX_TICK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            if table.hold_reaps {
                // stop_all_scripts is about to signal the group: keep its id held.
                table = CHILDREN
                    .reaped
                    .wait_timeout(table, MAX_TICK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    // Only after SIGKILL of a process not yet dead; wait outside the lock.
                    drop(table);
                    std::thread::sleep(MIN_TICK);
                    table = CHILDREN.lock();
                }
                Ok(status) => {
                    // Marked under the lock it was reaped under: from here on its pid
                    // may be reused, and stop_all_scripts must not signal it.
                    if let Some(slot) = table.exits.get_mut(&self.pid.as_raw()) {
                        *slot = Some(status);
                    }
                    return Exit::Status(status);
                }
                Err(Errno::EINTR) => {}
                Err(e) => {
                    // Gone, whoever reaped it: not to be signalled either.
                    table.exits.remove(&self.pid.as_raw());
                    return self.lost(e);
                }
            }
        }
    }

    fn lost(&self, error: Errno) -> Exit {
        // ECHILD: another waiter in this process (or SIGCHLD ignored) took it.
        tracing::error!(script = %self.script.display(), pid = self.pid.as_raw(), error = %error, "the script's exit status is lost");
        Exit::Lost
    }
}

impl Drop for ScriptProcess<'_> {
    fn drop(&mut self) {
        CHILDREN.lock().exits.remove(&self.pid.as_raw());
    }
}

/// Every script process this sidecar started and has not yet reaped, and the mode of
/// waiting; see the module doc.
static CHILDREN: Children = Children {
    table: Mutex::new(ChildTable {
        reaper_running: false,
        spawns: 0,
        exits: BTreeMap::new(),
        stopping: false,
        hold_reaps: false,
    }),
    spawned: Condvar::new(),
    reaped: Condvar::new(),
};

struct Children {
    table: Mutex<ChildTable>,
    /// Wakes a reaper that found no children at all.
    spawned: Condvar,
    /// Wakes runs waiting for the reaper to hand over a status.
    reaped: Condvar,
}

struct ChildTable {
    /// Set once, by the reaper thread, before its first waitpid(-1).
    reaper_running: bool,
    /// Counts spawns, so the reaper can tell one happened while it was not looking.
    spawns: u64,
    /// Registered pid → its status once it has been reaped (by the reaper, or by its
    /// run without the reaper).
    exits: BTreeMap<i32, Option<WaitStatus>>,
    /// Set by [`stop_all_scripts`]: no script starts any more.
    stopping: bool,
    /// Set while [`stop_all_scripts`] signals the groups: runs do not reap (direct mode).
    hold_reaps: bool,
}

impl ChildTable {
    /// The registered scripts not yet reaped: the reaper, and a run without it, mark a
    /// script reaped under the lock they reap it under.
    fn unreaped(&self) -> impl Iterator<Item = Pid> + '_ {
        self.exits
            .iter()
            .filter(|(_, status)| status.is_none())
            .map(|(&pid, _)| Pid::from_raw(pid))
    }

    /// Whether the registered script `pid` has exited, without reaping it.
    fn has_exited(&self, pid: Pid) -> bool {
        match self.exits.get(&pid.as_raw()) {
            None | Some(Some(_)) => true,
            Some(None) if self.reaper_running => false,
            Some(None) => {
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
            }
        }
    }
}

impl Children {
    fn lock(&self) -> MutexGuard<'_, ChildTable> {
        // Nothing under this lock panics; if it ever did, the table is still sound.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When this process is PID 1 (a container without an init), starts a thread that
/// reaps orphaned processes, handing the statuses of running scripts to their runs.
/// Call it once at start-up; later calls do nothing. See the module doc for why runs
/// never lose their statuses to it.
pub fn start_orphan_reaper_if_pid1() {
    if std::process::id() == 1 {
        start_orphan_reaper();
    }
}

fn start_orphan_reaper() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("orphan-reaper".into())
            .spawn(reap_forever);
        if let Err(e) = spawned {
            // Runs keep waiting for their own children: reaper_running stays false.
            tracing::error!(error = %e, "starting the orphan reaper thread; orphans will stay zombies");
        }
    });
}

fn reap_forever() {
    CHILDREN.lock().reaper_running = true;
    tracing::info!("running as PID 1: reaping orphaned processes");
    loop {
        let spawns_before = CHILDREN.lock().spawns;
        match waitpid(None, None) {
            Ok(status) => {
                let Some(pid) = status.pid() else { continue };
                let mut table = CHILDREN.lock();
                match table.exits.get_mut(&pid.as_raw()) {
                    Some(slot) => {
                        *slot = Some(status);
                        drop(table);
                        CHILDREN.reaped.notify_all();
                    }
                    None => {
                        tracing::debug!(pid = pid.as_raw(), status = ?status, "reaped an orphan")
                    }
                }
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => {
                // No children at all. A spawn wakes us at once; an orphan reparented
                // from outside our tree (a `kubectl exec` leftover) within a second.
                let table = CHILDREN.lock();
                if table.spawns == spawns_before {
                    let _ = CHILDREN.spawned.wait_timeout(table, Duration::from_secs(1));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "waitpid(-1) in the orphan reaper");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script_env::DEFAULT_SCRIPT_PATH;
    use std::path::PathBuf;

    const MIB: usize = 1 << 20;

    /// Tests that load the CPU (a 20 MB flood, eight scripts at once, a second test
    /// process) take this exclusively; tests that assert how long a run took share it.
    /// On a small CI machine the first kind would otherwise make the second kind late.
    static CPU: std::sync::RwLock<()> = std::sync::RwLock::new(());

    fn heavy() -> std::sync::RwLockWriteGuard<'static, ()> {
        CPU.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn timed() -> std::sync::RwLockReadGuard<'static, ()> {
        CPU.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scripts")
            .join(name)
    }

    /// The environment of a run for node `node_name`.
    fn env(node_name: &str) -> ScriptEnv {
        ScriptEnv::new(node_name, DEFAULT_SCRIPT_PATH, &[], |_| None)
    }

    fn spec<'a>(script: &'a Path, env: &'a ScriptEnv, timeout_ms: u64) -> ScriptRun<'a> {
        ScriptRun {
            script,
            env,
            run_as: None,
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(300),
            output_limit: MIB,
            stderr_limit: 4096,
        }
    }

    /// Runs on another thread so a run that never returns fails the test instead of
    /// hanging it.
    fn run_bounded(spec: &ScriptRun) -> RunOutcome {
        let script = spec.script.to_path_buf();
        let env = spec.env.clone();
        let (timeout, grace) = (spec.timeout, spec.grace);
        let (output_limit, stderr_limit) = (spec.output_limit, spec.stderr_limit);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let spec = ScriptRun {
                script: &script,
                env: &env,
                run_as: None,
                timeout,
                grace,
                output_limit,
                stderr_limit,
            };
            let _ = tx.send(run(&spec));
        });
        rx.recv_timeout(timeout + grace + Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("the run of {} never returned", spec.script.display()))
    }

    fn stdout(outcome: &RunOutcome) -> String {
        String::from_utf8(outcome.stdout.clone()).unwrap()
    }

    /// The value of `key=` in a run's output.
    fn value(outcome: &RunOutcome, key: &str) -> String {
        let prefix = format!("{key}=");
        stdout(outcome)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("no {key}= in {:?}", stdout(outcome)))
    }

    /// (pid, state, ppid) of every process whose process group is `pgid`.
    fn group_members(pgid: i32) -> Vec<(i32, char, i32)> {
        let mut members = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            // Gone between readdir and read: not a member any more.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the command name, which may hold spaces and parentheses.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            let state = fields[0].chars().next().unwrap();
            let ppid: i32 = fields[1].parse().unwrap();
            let pgrp: i32 = fields[2].parse().unwrap();
            if pgrp == pgid {
                members.push((pid, state, ppid));
            }
        }
        members
    }

    /// No process of the group runs any more, and none of its zombies is ours to reap.
    /// SIGKILL takes effect asynchronously, so allow the kernel a moment.
    fn assert_group_gone(pgid: i32) {
        let me = std::process::id() as i32;
        let give_up = Instant::now() + Duration::from_millis(500);
        loop {
            let left: Vec<_> = group_members(pgid)
                .into_iter()
                .filter(|&(_, state, ppid)| state != 'Z' || ppid == me)
                .collect();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < give_up, "group {pgid} survives: {left:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn capture_keeps_the_first_bytes_and_counts_the_rest() {
        let mut c = Capture::new(5);
        c.push(b"abc");
        c.push(b"defg");
        c.push(b"hi");
        assert_eq!(c.kept, b"abcde");
        assert_eq!(c.discarded, 4);
    }

    #[test]
    fn runs_a_non_executable_script_with_node_name_and_its_directory() {
        let path = script("env_and_exit.sh");
        let outcome = run_bounded(&spec(&path, &env("edge-7"), 1000));
        assert_eq!(outcome.ending, Ending::Exited(3));
        assert_eq!(value(&outcome, "node"), "edge-7");
        assert_eq!(
            Path::new(&value(&outcome, "cwd")).canonicalize().unwrap(),
            path.parent().unwrap().canonicalize().unwrap()
        );
        assert_eq!(value(&outcome, "stdin"), "");
        assert_eq!(value(&outcome, "a"), "1");
        assert_eq!(outcome.stdout_discarded, 0);
        assert!(outcome.stderr.is_empty());
    }

    #[test]
    fn stderr_is_captured_and_truncated() {
        let path = script("stderr_noise.sh");
        let env = env("n");
        let mut spec = spec(&path, &env, 1000);
        spec.stderr_limit = 100;
        let outcome = run_bounded(&spec);
        assert_eq!(outcome.ending, Ending::Exited(0));
        assert_eq!(outcome.stderr, vec![b'e'; 100]);
        assert_eq!(outcome.stderr_discarded, 10_000 - 100);
        assert_eq!(stdout(&outcome), "ok=1\n");
    }

    #[test]
    fn a_flood_keeps_the_cap_counts_the_rest_and_returns_promptly() {
        let _cpu = heavy();
        let path = script("flood.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 1000));
        assert_eq!(outcome.ending, Ending::Exited(0));
        assert_eq!(outcome.stdout.len(), MIB);
        assert!(outcome.stdout.starts_with(b"x=1\nx=1\n"));
        assert_eq!(outcome.stdout_discarded, 20_000_000 - MIB as u64);

        // The next run is unaffected by the last one.
        let path = script("env_and_exit.sh");
        let next = run_bounded(&spec(&path, &env("after-flood"), 1000));
        assert_eq!(next.ending, Ending::Exited(3));
        assert_eq!(value(&next, "node"), "after-flood");
        assert_eq!(next.stdout_discarded, 0);
    }

    #[test]
    fn a_hanging_script_and_its_background_child_are_killed_at_the_timeout() {
        let _cpu = timed();
        let path = script("hang_with_child.sh");
        let env = env("n");
        let spec = spec(&path, &env, 300);
        let outcome = run_bounded(&spec);
        assert_eq!(outcome.ending, Ending::TimedOut);
        // bash dies of SIGTERM at once; the bound is the worst case, SIGKILL.
        let bound = spec.timeout + spec.grace + Duration::from_millis(500);
        assert!(outcome.duration < bound, "took {:?}", outcome.duration);
        assert!(outcome.duration >= spec.timeout);
        assert_group_gone(value(&outcome, "pgid").parse().unwrap());
    }

    #[test]
    fn a_script_ignoring_sigterm_is_killed_after_the_grace() {
        let _cpu = timed();
        let path = script("ignore_term.sh");
        let env = env("n");
        let spec = spec(&path, &env, 200);
        let outcome = run_bounded(&spec);
        assert_eq!(outcome.ending, Ending::TimedOut);
        assert!(
            outcome.duration >= spec.timeout + spec.grace,
            "SIGKILL before the grace ended: {:?}",
            outcome.duration
        );
        let bound = spec.timeout + spec.grace + Duration::from_millis(500);
        assert!(outcome.duration < bound, "took {:?}", outcome.duration);
        assert_group_gone(value(&outcome, "pgid").parse().unwrap());
    }

    #[test]
    fn a_term_ignoring_child_is_killed_with_the_group_after_its_script_exits() {
        let _cpu = timed();
        let path = script("term_ignoring_child.sh");
        let env = env("n");
        let spec = spec(&path, &env, 300);
        let outcome = run_bounded(&spec);
        assert_eq!(outcome.ending, Ending::TimedOut);
        let bound = spec.timeout + spec.grace + Duration::from_millis(500);
        assert!(outcome.duration < bound, "took {:?}", outcome.duration);
        assert_group_gone(value(&outcome, "pgid").parse().unwrap());
    }

    #[test]
    fn a_grandchild_holding_stdout_does_not_hold_up_the_run() {
        let _cpu = timed();
        let path = script("leave_grandchild.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 1000));
        assert_eq!(outcome.ending, Ending::Exited(0));
        assert!(
            outcome.duration < Duration::from_millis(500),
            "took {:?}",
            outcome.duration
        );
        assert_eq!(value(&outcome, "a"), "1");
        // The runner leaves it be (the run did not time out); do not leave it behind.
        let pgid: i32 = value(&outcome, "pgid").parse().unwrap();
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }

    #[test]
    fn closed_pipes_still_wait_for_the_exit_code() {
        let _cpu = timed();
        let path = script("close_output_then_exit.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 1000));
        assert_eq!(outcome.ending, Ending::Exited(4));
        assert!(outcome.duration >= Duration::from_millis(200));
    }

    #[test]
    fn a_signal_of_the_scripts_own_is_reported() {
        let path = script("kill_self.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 1000));
        assert_eq!(outcome.ending, Ending::Signaled(libc::SIGKILL));
    }

    #[test]
    fn a_missing_script_is_bash_exit_127_naming_it() {
        let path = script("no_such_script.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 1000));
        assert_eq!(outcome.ending, Ending::Exited(127));
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        assert!(stderr.contains("no_such_script.sh"), "{stderr}");
    }

    #[test]
    fn a_missing_interpreter_is_a_spawn_failure_naming_both() {
        let path = script("env_and_exit.sh");
        let outcome = run_with(
            &spec(&path, &env("n"), 1000),
            OsStr::new("/nonexistent/bash"),
        );
        let Ending::SpawnFailed(error) = &outcome.ending else {
            panic!("{:?}", outcome.ending);
        };
        let message = error.to_string();
        assert!(message.contains("/nonexistent/bash"), "{message}");
        assert!(message.contains("env_and_exit.sh"), "{message}");
        assert!(outcome.stdout.is_empty());
    }

    #[test]
    fn concurrent_runs_keep_their_own_output_and_status() {
        let _cpu = heavy();
        let path = script("numbered.sh");
        let started = Instant::now();
        let threads: Vec<_> = (1..=8)
            .map(|n| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let node = format!("node-{n}");
                    (n, run_bounded(&spec(&path, &env(&node), 1000)))
                })
            })
            .collect();
        for thread in threads {
            let (n, outcome) = thread.join().unwrap();
            assert_eq!(outcome.ending, Ending::Exited(n));
            assert_eq!(stdout(&outcome), format!("n={n}\n"));
        }
        // Eight runs of 0.2 s one after the other would take 1.6 s.
        assert!(started.elapsed() < Duration::from_millis(1200));
    }

    const REAPER_TEST: &str = "EDGE_SIDECAR_RUNNER_REAPER_TEST";

    /// The reaper changes how this whole process waits, so it runs in a test binary of
    /// its own: `reaper_child_process` below, run alone.
    #[test]
    fn the_orphan_reaper_hands_statuses_back_and_reaps_orphans() {
        let _cpu = heavy();
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "runner::tests::reaper_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(REAPER_TEST, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    /// Children of ours (ppid = this process) with their state.
    fn own_children() -> Vec<(i32, char, String)> {
        let me = std::process::id() as i32;
        let mut children = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let open = stat.find('(').unwrap();
            let close = stat.rfind(')').unwrap();
            let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
            if fields[1].parse::<i32>().unwrap() == me {
                let state = fields[0].chars().next().unwrap();
                children.push((pid, state, stat[open + 1..close].to_string()));
            }
        }
        children
    }

    /// Only does something when started by the test above: as a child subreaper this
    /// process gets the scripts' orphans as PID 1 does.
    #[test]
    fn reaper_child_process() {
        if std::env::var_os(REAPER_TEST).is_none() {
            return;
        }
        // SAFETY: prctl with integer arguments only.
        let set = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(set, 0, "{}", io::Error::last_os_error());
        start_orphan_reaper();
        let ready = Instant::now() + Duration::from_secs(1);
        while !CHILDREN.lock().reaper_running {
            assert!(Instant::now() < ready, "the reaper did not start");
            std::thread::sleep(Duration::from_millis(1));
        }

        // Exit codes reach their runs although the reaper waits for everything.
        let path = script("orphan.sh");
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || run_bounded(&spec(&path, &env("n"), 1000)))
            })
            .collect();
        for thread in threads {
            let outcome = thread.join().unwrap();
            assert_eq!(outcome.ending, Ending::Exited(5));
            assert_eq!(stdout(&outcome), "a=1\n");
        }
        let path = script("env_and_exit.sh");
        assert_eq!(
            run_bounded(&spec(&path, &env("n"), 1000)).ending,
            Ending::Exited(3)
        );
        let path = script("kill_self.sh");
        let signaled = run_bounded(&spec(&path, &env("n"), 1000)).ending;
        assert_eq!(signaled, Ending::Signaled(libc::SIGKILL));
        let path = script("hang_with_child.sh");
        let outcome = run_bounded(&spec(&path, &env("n"), 300));
        assert_eq!(outcome.ending, Ending::TimedOut);
        assert_group_gone(value(&outcome, "pgid").parse().unwrap());

        // The orphans' sleeps became ours, and the reaper reaps them when they end.
        let orphans = own_children();
        assert!(
            orphans.iter().any(|(_, _, comm)| comm == "sleep"),
            "the orphans were not reparented to us: {orphans:?}"
        );
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            let left = own_children();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < give_up, "not reaped: {left:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(CHILDREN.lock().exits.is_empty());
    }
}
