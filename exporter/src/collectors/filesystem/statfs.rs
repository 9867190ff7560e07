//! statfs(2) with a deadline.
//!
//! statfs of a dead NFS or FUSE mount blocks in the kernel, uninterruptibly and
//! possibly forever, and no thread can be cancelled out of a syscall. So statfs runs
//! on long-lived worker threads fed by channels, and a scrape waits for all answers at
//! most `timeout` in all. One worker takes the whole scrape; when it stalls on a dead
//! mount, the mounts it has not started move to another worker, so N dead mounts cost
//! one timeout together, not N. At the deadline a worker still in its call is
//! abandoned to it and its mount point marked stuck. Stuck mount points are not asked
//! again (nothing is spawned for them) until the abandoned worker's statfs returns: it
//! then clears the mark and exits. Threads alive are therefore at most
//! [`STATFS_WORKERS`] idle ones plus one per mount point currently stuck.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The statfs(2) fields node_exporter exports, already multiplied out as it does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsUsage {
    pub size_bytes: f64,
    pub free_bytes: f64,
    pub avail_bytes: f64,
    pub files: f64,
    pub files_free: f64,
}

/// Something that can statfs a path: the system call, or a fake in tests.
pub trait StatFs: Send + Sync + 'static {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage>;
}

/// The real statfs(2).
pub struct SystemStatFs;

impl StatFs for SystemStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage> {
        let stat = nix::sys::statfs::statfs(path).map_err(io::Error::from)?;
        // node_exporter multiplies by f_bsize (not f_frsize), in floating point.
        let block_size = stat.block_size() as f64;
        Ok(FsUsage {
            size_bytes: stat.blocks() as f64 * block_size,
            free_bytes: stat.blocks_free() as f64 * block_size,
            avail_bytes: stat.blocks_available() as f64 * block_size,
            files: stat.files() as f64,
            files_free: stat.files_free() as f64,
        })
    }
}

/// The answer for one mount point.
#[derive(Debug)]
pub enum Outcome {
    Done(io::Result<FsUsage>),
    /// statfs did not return within the timeout, in this scrape or an earlier one.
    Stuck,
}

/// Workers kept between scrapes. One serves a healthy node's whole scrape (one wake-up
/// per scrape); the others only take over mounts from a stalled one.
pub const STATFS_WORKERS: usize = 4;
/// Most workers one scrape may set going, stalled ones included.
pub const MAX_STATFS_WORKERS: usize = 16;
/// A statfs answers in microseconds; a worker silent this long (or a quarter of the
/// timeout, if shorter) is stalled, and the mounts it has not started move to
/// another worker.
const STALL: Duration = Duration::from_millis(50);

/// A job's state, shared by the collector and the worker it was queued to.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

struct Job {
    batch: u64,
    index: usize,
    key: String,
    path: PathBuf,
    state: Arc<AtomicU8>,
}

/// A worker's answer to one job of one scrape.
struct Answer {
    batch: u64,
    index: usize,
    result: io::Result<FsUsage>,
}

/// The collector's end of one worker thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
}

/// Runs statfs calls on worker threads under one deadline per scrape.
pub struct StatFsRunner {
    statfs: Arc<dyn StatFs>,
    timeout: Duration,
    /// Mount points whose statfs has not returned; shared with the abandoned workers.
    stuck: Arc<Mutex<HashSet<String>>>,
    /// Idle workers, kept between scrapes.
    workers: Vec<Worker>,
    /// Every worker answers here, each answer tagged with its scrape (`batch`), so an
    /// abandoned worker's late answer is recognised and ignored.
    answers: mpsc::Sender<Answer>,
    results: mpsc::Receiver<Answer>,
    batch: u64,
    live_workers: Arc<AtomicUsize>,
    workers_started: usize,
}

impl StatFsRunner {
    pub fn new(statfs: Arc<dyn StatFs>, timeout: Duration) -> Self {
        let (answers, results) = mpsc::channel();
        StatFsRunner {
            statfs,
            timeout,
            stuck: Arc::default(),
            workers: Vec::new(),
            answers,
            results,
            batch: 0,
            live_workers: Arc::default(),
            workers_started: 0,
        }
    }

    /// statfs of `path`; `key` (the mount point) names it in the stuck set and logs.
    /// Fails only when no worker thread can be started.
    pub fn stat(&mut self, key: &str, path: &Path) -> io::Result<Outcome> {
        let mut outcomes = self.stat_all(&[(key.to_string(), path.to_path_buf())])?;
        Ok(outcomes
            .pop()
            .unwrap_or(Outcome::Done(Err(io::Error::other("no statfs answer")))))
    }

    /// statfs of every `(key, path)` under one deadline, `timeout` from now. All jobs go
    /// to one worker (one wake-up); when it stalls on a dead mount, the mounts it has
    /// not started move to another worker, and so on, so dead mounts cost one deadline
    /// together, not one each. At the deadline a worker still in a call is abandoned to
    /// it and that mount marked stuck (not asked again until the call returns); a mount
    /// not started by then gets a timeout error for this scrape only. Fails only when
    /// no worker thread can be started.
    pub fn stat_all(&mut self, jobs: &[(String, PathBuf)]) -> io::Result<Vec<Outcome>> {
        let mut outcomes: Vec<Option<Outcome>> = jobs.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = Vec::with_capacity(jobs.len());
        {
            let stuck = lock(&self.stuck);
            for (index, (key, _)) in jobs.iter().enumerate() {
                if stuck.contains(key) {
                    tracing::debug!(
                        mountpoint = %key,
                        "mount point is still unresponsive, skipping statfs"
                    );
                    outcomes[index] = Some(Outcome::Stuck);
                } else {
                    pending.push(index);
                }
            }
        }
        if pending.is_empty() {
            return Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or(Outcome::Stuck))
                .collect());
        }
        self.batch += 1;
        let deadline = Instant::now() + self.timeout;
        let stall = STALL.min(self.timeout / 4);
        // Each job's state and the worker (index into `busy`) it was last queued to.
        let mut states: Vec<Arc<AtomicU8>> = jobs.iter().map(|_| Arc::default()).collect();
        let mut owner: Vec<usize> = vec![0; jobs.len()];
        let mut busy: Vec<Worker> = Vec::new();
        self.hand_over(&mut busy, jobs, &pending, &mut states, &mut owner)?;
        let mut open = pending.len();
        while open > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.results.recv_timeout(left.min(stall)) {
                Ok(answer) => {
                    if answer.batch == self.batch && outcomes[answer.index].is_none() {
                        outcomes[answer.index] = Some(Outcome::Done(answer.result));
                        open -= 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    // A stall: what no worker has started moves to a fresh one.
                    let waiting: Vec<usize> = (0..jobs.len())
                        .filter(|&i| {
                            outcomes[i].is_none()
                                && states[i]
                                    .compare_exchange(
                                        QUEUED,
                                        WITHDRAWN,
                                        Ordering::SeqCst,
                                        Ordering::SeqCst,
                                    )
                                    .is_ok()
                        })
                        .collect();
                    if !waiting.is_empty() && busy.len() < MAX_STATFS_WORKERS {
                        self.hand_over(&mut busy, jobs, &waiting, &mut states, &mut owner)?;
                    } else {
                        // No worker to spare: put them back where they were.
                        for &i in &waiting {
                            states[i].store(QUEUED, Ordering::SeqCst);
                        }
                    }
                }
                Err(_) => break,
            }
        }
        let mut abandoned = vec![false; busy.len()];
        if open > 0 {
            // A worker answers under this lock, so either its answer is already in the
            // channel or it will find the mark and clear it: never a mark left behind.
            let mut stuck = lock(&self.stuck);
            while let Ok(answer) = self.results.try_recv() {
                if answer.batch == self.batch && outcomes[answer.index].is_none() {
                    outcomes[answer.index] = Some(Outcome::Done(answer.result));
                }
            }
            for index in 0..jobs.len() {
                if outcomes[index].is_some() {
                    continue;
                }
                let withdrawn = states[index]
                    .compare_exchange(QUEUED, WITHDRAWN, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                if withdrawn {
                    outcomes[index] = Some(Outcome::Done(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "not asked in time: every worker was waiting on a mount that did not answer",
                    ))));
                    continue;
                }
                let key = &jobs[index].0;
                stuck.insert(key.clone());
                tracing::warn!(
                    mountpoint = %key,
                    timeout = ?self.timeout,
                    "mountpoint timeout: statfs did not return in time; the mount point is reported with device_error 1 and not asked again until it answers"
                );
                outcomes[index] = Some(Outcome::Stuck);
                abandoned[owner[index]] = true;
            }
        }
        // Workers still in a call are dropped (abandoned: each exits after its call);
        // the others go back to the idle pool, which keeps at most STATFS_WORKERS.
        for (worker, abandoned) in busy.into_iter().zip(abandoned) {
            if !abandoned && self.workers.len() < STATFS_WORKERS {
                self.workers.push(worker);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Stuck))
            .collect())
    }

    /// Queues `indices` on one worker taken from the idle pool (or started), which
    /// joins `busy`.
    fn hand_over(
        &mut self,
        busy: &mut Vec<Worker>,
        jobs: &[(String, PathBuf)],
        indices: &[usize],
        states: &mut [Arc<AtomicU8>],
        owner: &mut [usize],
    ) -> io::Result<()> {
        let slot = busy.len();
        let batch = self.batch;
        let mut send_all = |worker: &Worker| {
            indices.iter().all(|&index| {
                // A fresh state: the old one stays WITHDRAWN for the worker it left.
                states[index] = Arc::default();
                owner[index] = slot;
                let (key, path) = &jobs[index];
                worker
                    .jobs
                    .send(Job {
                        batch,
                        index,
                        key: key.clone(),
                        path: path.clone(),
                        state: Arc::clone(&states[index]),
                    })
                    .is_ok()
            })
        };
        while let Some(worker) = self.workers.pop() {
            if send_all(&worker) {
                busy.push(worker);
                return Ok(());
            }
            // That worker died (a panicking StatFs): try the next.
        }
        let worker = self.spawn()?;
        if !send_all(&worker) {
            return Err(io::Error::other("a new statfs worker exited at once"));
        }
        busy.push(worker);
        Ok(())
    }

    fn spawn(&mut self) -> io::Result<Worker> {
        let (jobs, job_queue) = mpsc::channel::<Job>();
        let answers = self.answers.clone();
        let statfs = Arc::clone(&self.statfs);
        let stuck = Arc::clone(&self.stuck);
        let live = LiveGuard::new(Arc::clone(&self.live_workers));
        thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                let _live = live;
                // Ends when the collector drops or abandons this worker.
                for job in job_queue {
                    // A job withdrawn (moved to another worker) is not run here.
                    if job
                        .state
                        .compare_exchange(QUEUED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        continue;
                    }
                    let result = statfs.statfs(&job.path);
                    let mut stuck = lock(&stuck);
                    if stuck.remove(&job.key) {
                        tracing::info!(mountpoint = %job.key, "mount point answered statfs again, monitoring resumes");
                    }
                    let delivered = answers
                        .send(Answer {
                            batch: job.batch,
                            index: job.index,
                            result,
                        })
                        .is_ok();
                    drop(stuck);
                    if !delivered {
                        return;
                    }
                }
            })?;
        self.workers_started += 1;
        Ok(Worker { jobs })
    }

    /// Worker threads alive now: the idle pool's and those blocked on stuck mounts.
    pub fn live_workers(&self) -> usize {
        self.live_workers.load(Ordering::SeqCst)
    }

    pub fn workers_started(&self) -> usize {
        self.workers_started
    }

    pub fn stuck_count(&self) -> usize {
        lock(&self.stuck).len()
    }
}

/// Counts a worker thread as alive from its creation until it exits.
struct LiveGuard(Arc<AtomicUsize>);

impl LiveGuard {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        LiveGuard(count)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The stuck set stays consistent even if a thread panicked while holding it.
fn lock(set: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Condvar;
    use std::time::Instant;

    /// A statfs that answers `usage` at once, fails for paths ending in `error`, and
    /// blocks for paths ending in `hang` until released.
    #[derive(Default)]
    pub struct FakeStatFs {
        released: Mutex<bool>,
        wake: Condvar,
        calls: Mutex<HashMap<PathBuf, usize>>,
    }

    pub const FAKE_USAGE: FsUsage = FsUsage {
        size_bytes: 4096.0 * 100.0,
        free_bytes: 4096.0 * 60.0,
        avail_bytes: 4096.0 * 50.0,
        files: 1000.0,
        files_free: 900.0,
    };

    impl FakeStatFs {
        pub fn release(&self) {
            *self.released.lock().unwrap() = true;
            self.wake.notify_all();
        }

        pub fn calls(&self, path: &Path) -> usize {
            self.calls.lock().unwrap().get(path).copied().unwrap_or(0)
        }
    }

    impl StatFs for FakeStatFs {
        fn statfs(&self, path: &Path) -> io::Result<FsUsage> {
            *self
                .calls
                .lock()
                .unwrap()
                .entry(path.to_path_buf())
                .or_default() += 1;
            if path.ends_with("hang") {
                let mut released = self.released.lock().unwrap();
                while !*released {
                    released = self.wake.wait(released).unwrap();
                }
            }
            if path.ends_with("error") {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            Ok(FAKE_USAGE)
        }
    }

    pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_hanging_statfs_costs_one_timeout_and_one_thread() {
        let fake = Arc::new(FakeStatFs::default());
        let timeout = Duration::from_millis(150);
        let mut runner = StatFsRunner::new(fake.clone(), timeout);
        let ok = Path::new("/ok");
        let hang = Path::new("/hang");

        assert!(matches!(
            runner.stat("/ok", ok).unwrap(),
            Outcome::Done(Ok(FAKE_USAGE))
        ));
        let started = Instant::now();
        assert!(matches!(
            runner.stat("/hang", hang).unwrap(),
            Outcome::Stuck
        ));
        let waited = started.elapsed();
        assert!(
            waited >= timeout && waited < timeout + Duration::from_millis(500),
            "{waited:?}"
        );
        // A fresh worker serves what follows; the old one is blocked.
        assert!(matches!(
            runner.stat("/ok", ok).unwrap(),
            Outcome::Done(Ok(_))
        ));
        assert_eq!((runner.workers_started(), runner.live_workers()), (2, 2));

        // While stuck: no call, no thread, no wait.
        let started = Instant::now();
        assert!(matches!(
            runner.stat("/hang", hang).unwrap(),
            Outcome::Stuck
        ));
        assert!(started.elapsed() < timeout);
        assert_eq!(fake.calls(hang), 1);
        assert_eq!((runner.workers_started(), runner.live_workers()), (2, 2));

        fake.release();
        wait_until("the abandoned worker to exit", || {
            runner.live_workers() == 1
        });
        assert_eq!(runner.stuck_count(), 0);
        assert!(matches!(
            runner.stat("/hang", hang).unwrap(),
            Outcome::Done(Ok(FAKE_USAGE))
        ));
        assert_eq!(fake.calls(hang), 2);
        assert_eq!((runner.workers_started(), runner.live_workers()), (2, 1));
        drop(runner);
    }

    #[test]
    fn errors_are_answers_and_the_worker_is_reused() {
        let fake = Arc::new(FakeStatFs::default());
        let mut runner = StatFsRunner::new(fake, Duration::from_secs(5));
        let Outcome::Done(Err(error)) = runner.stat("/x/error", Path::new("/x/error")).unwrap()
        else {
            panic!("expected an error");
        };
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert!(matches!(
            runner.stat("/y", Path::new("/y")).unwrap(),
            Outcome::Done(Ok(_))
        ));
        assert_eq!(runner.workers_started(), 1);
    }

    #[test]
    fn the_system_statfs_reads_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let usage = SystemStatFs.statfs(dir.path()).unwrap();
        assert!(usage.size_bytes > 0.0 && usage.avail_bytes <= usage.size_bytes);
        let err = SystemStatFs
            .statfs(&dir.path().join("missing"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
