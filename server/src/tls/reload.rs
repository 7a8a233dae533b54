//! A value built from files and rebuilt when they change, checked at most once per
//! [`CHECK_EVERY`] when the value is asked for (at each accepted connection or new peer
//! channel), so rotation needs no background task and costs a few `stat` calls per second.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How stale a reloaded certificate may be.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

type Build<T> = Box<dyn Fn() -> anyhow::Result<T> + Send + Sync>;

/// What identifies a file's content without reading it: a replaced file (written in place or
/// renamed over) changes at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(i64, i64, u64, u64)>);

fn stamp(path: &PathBuf) -> Stamp {
    Stamp(
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.mtime(), m.mtime_nsec(), m.len(), m.ino())),
    )
}

struct State<T> {
    value: Arc<T>,
    generation: u64,
    stamps: Vec<Stamp>,
    checked: Instant,
}

pub struct Reloading<T> {
    what: String,
    paths: Vec<PathBuf>,
    build: Build<T>,
    state: Mutex<State<T>>,
}

impl<T> Reloading<T> {
    /// Builds the value once; an error here is a configuration error the node must not start
    /// with.
    pub fn new(
        what: impl Into<String>,
        paths: Vec<PathBuf>,
        build: impl Fn() -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let stamps = paths.iter().map(stamp).collect();
        let value = Arc::new(build()?);
        Ok(Self {
            what: what.into(),
            paths,
            build: Box::new(build),
            state: Mutex::new(State {
                value,
                generation: 1,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The current value and its generation (which grows with every successful reload).
    pub fn current(&self) -> (u64, Arc<T>) {
        // Every critical section leaves the state whole: a panic cannot poison it half-done.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let stamps: Vec<Stamp> = self.paths.iter().map(stamp).collect();
            if stamps != state.stamps {
                // Remember the new stamps even when the build fails: a file caught half-written
                // changes again when complete, and a broken one is reported once, not per second.
                state.stamps = stamps;
                match (self.build)() {
                    Ok(v) => {
                        state.value = Arc::new(v);
                        state.generation += 1;
                        tracing::info!(what = %self.what, "certificates reloaded");
                    }
                    Err(e) => tracing::error!(
                        what = %self.what,
                        "certificate files changed but do not load; keeping the previous ones: {e:#}"
                    ),
                }
            }
        }
        (state.generation, state.value.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn wait_for_generation(r: &Reloading<String>, generation: u64) -> Arc<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (g, v) = r.current();
            if g == generation {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no reload to generation {generation}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn rebuilds_when_a_file_changes_and_keeps_the_old_value_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, "one").unwrap();
        let p = path.clone();
        let r = Reloading::new("test", vec![path.clone()], move || {
            let text = std::fs::read_to_string(&p)?;
            anyhow::ensure!(!text.contains("bad"), "unloadable");
            Ok(text)
        })
        .unwrap();
        assert_eq!(*r.current().1, "one");

        // Renamed over, as cert-manager and most rotation tools do.
        let tmp = dir.path().join("new.pem");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(*wait_for_generation(&r, 2), "two");

        std::fs::write(&path, "bad").unwrap();
        std::thread::sleep(CHECK_EVERY + Duration::from_millis(100));
        let (g, v) = r.current();
        assert_eq!(
            (g, v.as_str()),
            (2, "two"),
            "a broken file replaced the good one"
        );

        std::fs::write(&path, "three!").unwrap();
        assert_eq!(*wait_for_generation(&r, 3), "three!");
    }

    #[test]
    fn a_first_load_error_is_a_start_error() {
        let r = Reloading::<String>::new("test", vec![], || anyhow::bail!("no such file"));
        assert!(r.is_err());
    }
}
