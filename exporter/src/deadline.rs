//! Work that may block forever, run on a worker thread under a deadline.
//!
//! A read of a textfile directory on a dead network mount blocks in the kernel,
//! possibly forever, and no thread can be cancelled out of a system call. So the work
//! runs on a long-lived worker thread, and the caller waits for its answer at most a
//! timeout. A worker that misses it is abandoned to its call and nothing more is
//! started until that call returns (the caller is told at once that the work is still
//! stuck): threads alive are at most two, whatever the mount does.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Why [`DeadlineWorker::run`] has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missed {
    #[error("did not finish within {0:?}; abandoned")]
    TimedOut(Duration),
    #[error("an earlier run has still not returned; not started")]
    StillStuck,
    #[error("the worker thread could not be started or died")]
    NoWorker,
}

struct Worker<T> {
    jobs: mpsc::Sender<Job<T>>,
    answers: mpsc::Receiver<T>,
}

/// One worker thread, named `name`, reused while it answers in time.
pub struct DeadlineWorker<T> {
    name: &'static str,
    worker: Option<Worker<T>>,
    /// Set while an abandoned worker is still in its call; cleared by that worker.
    stuck: Arc<Mutex<bool>>,
}

impl<T: Send + 'static> DeadlineWorker<T> {
    pub fn new(name: &'static str) -> Self {
        DeadlineWorker {
            name,
            worker: None,
            stuck: Arc::default(),
        }
    }

    /// Runs `job` on the worker and waits at most `timeout` for it.
    pub fn run(
        &mut self,
        job: impl FnOnce() -> T + Send + 'static,
        timeout: Duration,
    ) -> Result<T, Missed> {
        if *lock(&self.stuck) {
            return Err(Missed::StillStuck);
        }
        let job: Job<T> = Box::new(job);
        let job = match &self.worker {
            Some(worker) => match worker.jobs.send(job) {
                Ok(()) => None,
                Err(mpsc::SendError(job)) => Some(job),
            },
            None => Some(job),
        };
        if let Some(job) = job {
            // No worker yet, or one that died (a panicking job): start one.
            let worker = self.spawn().map_err(|_| Missed::NoWorker)?;
            worker.jobs.send(job).map_err(|_| Missed::NoWorker)?;
            self.worker = Some(worker);
        }
        let Some(worker) = &self.worker else {
            return Err(Missed::NoWorker);
        };
        match worker.answers.recv_timeout(timeout) {
            Ok(answer) => Ok(answer),
            Err(RecvTimeoutError::Disconnected) => {
                self.worker = None;
                Err(Missed::NoWorker)
            }
            Err(RecvTimeoutError::Timeout) => {
                // The worker answers under this lock: either its answer is in the
                // channel now, or it will find the mark and clear it.
                let mut stuck = lock(&self.stuck);
                if let Ok(answer) = worker.answers.try_recv() {
                    return Ok(answer);
                }
                *stuck = true;
                drop(stuck);
                // Dropping the worker abandons it to its call; it exits after it.
                self.worker = None;
                Err(Missed::TimedOut(timeout))
            }
        }
    }

    fn spawn(&self) -> std::io::Result<Worker<T>> {
        let (jobs, queue) = mpsc::channel::<Job<T>>();
        let (answer, answers) = mpsc::channel();
        let stuck = Arc::clone(&self.stuck);
        thread::Builder::new()
            .name(self.name.into())
            .spawn(move || {
                for job in queue {
                    let result = job();
                    let mut stuck = lock(&stuck);
                    if *stuck {
                        *stuck = false;
                        tracing::info!("a stuck read returned; reading again from the next scrape");
                    }
                    let delivered = answer.send(result).is_ok();
                    drop(stuck);
                    if !delivered {
                        return;
                    }
                }
            })?;
        Ok(Worker { jobs, answers })
    }
}

fn lock(flag: &Mutex<bool>) -> MutexGuard<'_, bool> {
    flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Instant;

    #[test]
    fn a_stuck_job_costs_one_timeout_and_blocks_nothing_else() {
        let mut worker = DeadlineWorker::new("test");
        assert_eq!(worker.run(|| 1, Duration::from_secs(5)), Ok(1));
        let (release, wait) = channel::<()>();
        let started = Instant::now();
        let timeout = Duration::from_millis(100);
        assert_eq!(
            worker.run(
                move || {
                    let _ = wait.recv();
                    2
                },
                timeout
            ),
            Err(Missed::TimedOut(timeout))
        );
        assert!(started.elapsed() < timeout + Duration::from_millis(400));
        // While it is stuck, nothing is started and the answer is immediate.
        let started = Instant::now();
        assert_eq!(worker.run(|| 3, timeout), Err(Missed::StillStuck));
        assert!(started.elapsed() < Duration::from_millis(50));
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match worker.run(|| 4, Duration::from_secs(5)) {
                Ok(answer) => {
                    assert_eq!(answer, 4);
                    break;
                }
                Err(Missed::StillStuck) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5))
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
