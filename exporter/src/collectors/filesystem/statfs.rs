//! statfs(2) with a deadline.
//!
//! statfs of a dead NFS or FUSE mount blocks in the kernel, uninterruptibly and
//! possibly forever, and no thread can be cancelled out of a syscall. So statfs runs
//! on a long-lived worker thread fed by a channel, and the scrape waits for each answer
//! at most `timeout`. A worker that does not answer in time is abandoned to its
//! syscall, its mount point is marked stuck, and a fresh worker serves the remaining
//! mounts. Stuck mount points are not asked again (nothing is spawned for them) until
//! the abandoned worker's statfs returns: it then clears the mark and exits. Threads
//! alive are therefore one plus the number of mount points currently stuck.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

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

struct Job {
    key: String,
    path: PathBuf,
}

/// The collector's end of one worker thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<io::Result<FsUsage>>,
}

/// Runs statfs calls one at a time on a worker thread, each with a deadline.
pub struct StatFsRunner {
    statfs: Arc<dyn StatFs>,
    timeout: Duration,
    /// Mount points whose statfs has not returned; shared with the abandoned workers.
    stuck: Arc<Mutex<HashSet<String>>>,
    worker: Option<Worker>,
    live_workers: Arc<AtomicUsize>,
    workers_started: usize,
}

impl StatFsRunner {
    pub fn new(statfs: Arc<dyn StatFs>, timeout: Duration) -> Self {
        StatFsRunner {
            statfs,
            timeout,
            stuck: Arc::default(),
            worker: None,
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

    /// statfs of every `(key, path)`, handed to the worker in one go so a scrape costs
    /// one thread wake-up, not one per mount. Answers come in order, each awaited at
    /// most the timeout; a call that misses it marks its mount stuck, and the mounts
    /// after it move to a fresh worker. Fails only when no worker thread can be started.
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
        while !pending.is_empty() {
            let Some(worker) = self.hand_over(jobs, &pending)? else {
                for &index in &pending {
                    outcomes[index] =
                        Some(Outcome::Done(Err(io::Error::other("statfs worker exited"))));
                }
                break;
            };
            let mut answered = 0;
            let mut keep_worker = true;
            for &index in &pending {
                answered += 1;
                match worker.results.recv_timeout(self.timeout) {
                    Ok(result) => outcomes[index] = Some(Outcome::Done(result)),
                    Err(RecvTimeoutError::Disconnected) => {
                        outcomes[index] =
                            Some(Outcome::Done(Err(io::Error::other("statfs worker exited"))));
                        keep_worker = false;
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // The worker answers under this lock, so either its answer is
                        // already there or it will find the mark and clear it: never a
                        // mark left behind.
                        let key = &jobs[index].0;
                        let mut stuck = lock(&self.stuck);
                        if let Ok(result) = worker.results.try_recv() {
                            outcomes[index] = Some(Outcome::Done(result));
                            continue;
                        }
                        stuck.insert(key.clone());
                        drop(stuck);
                        tracing::warn!(
                            mountpoint = %key,
                            timeout = ?self.timeout,
                            "mountpoint timeout: statfs did not return in time; the mount point is reported with device_error 1 and not asked again until it answers"
                        );
                        outcomes[index] = Some(Outcome::Stuck);
                        // Dropping `worker` abandons that thread to its syscall; the
                        // jobs still queued to it are never run (it finds no receiver).
                        keep_worker = false;
                        break;
                    }
                }
            }
            if keep_worker {
                self.worker = Some(worker);
            }
            pending.drain(..answered);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Stuck))
            .collect())
    }

    /// Queues the `pending` jobs on the current worker, or on a new one if the current
    /// one has died. `None` when even a new worker would not take them.
    fn hand_over(
        &mut self,
        jobs: &[(String, PathBuf)],
        pending: &[usize],
    ) -> io::Result<Option<Worker>> {
        let send_all = |worker: &Worker| {
            pending.iter().all(|&index| {
                let (key, path) = &jobs[index];
                worker
                    .jobs
                    .send(Job {
                        key: key.clone(),
                        path: path.clone(),
                    })
                    .is_ok()
            })
        };
        if let Some(worker) = self.worker.take() {
            if send_all(&worker) {
                return Ok(Some(worker));
            }
        }
        // A worker that died (a panicking StatFs) has dropped its receiver: start another.
        let worker = self.spawn()?;
        Ok(send_all(&worker).then_some(worker))
    }

    fn spawn(&mut self) -> io::Result<Worker> {
        let (jobs, job_queue) = mpsc::channel::<Job>();
        let (answers, results) = mpsc::channel();
        let statfs = Arc::clone(&self.statfs);
        let stuck = Arc::clone(&self.stuck);
        let live = LiveGuard::new(Arc::clone(&self.live_workers));
        thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                let _live = live;
                // Ends when the collector drops or abandons this worker.
                for job in job_queue {
                    let result = statfs.statfs(&job.path);
                    let mut stuck = lock(&stuck);
                    if stuck.remove(&job.key) {
                        tracing::info!(mountpoint = %job.key, "mount point answered statfs again, monitoring resumes");
                    }
                    let delivered = answers.send(result).is_ok();
                    drop(stuck);
                    if !delivered {
                        return;
                    }
                }
            })?;
        self.workers_started += 1;
        Ok(Worker { jobs, results })
    }

    /// Worker threads alive now: the current one and those blocked on stuck mounts.
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
