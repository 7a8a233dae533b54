//! Anonymous network namespaces, held by file descriptor.
//!
//! A namespace here has no name under /run/netns: it lives exactly as long as its descriptor
//! and the processes inside it. A test that panics, or a test process killed with SIGKILL,
//! therefore leaves no namespace behind (its nodes die with it through PDEATHSIG), and
//! parallel tests cannot collide on names. Tools (`ip`, `iptables`) run inside one by
//! entering it between fork and exec, and refer to another through `/proc/PID/fd/N`.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use anyhow::Context;

pub struct Netns {
    fd: File,
}

impl Netns {
    /// A new, empty namespace (only a loopback interface, down).
    pub fn new() -> anyhow::Result<Self> {
        // unshare(2) moves the calling thread only: do it on a throwaway thread and keep a
        // descriptor of the namespace it made.
        std::thread::spawn(|| -> anyhow::Result<Self> {
            // SAFETY: unshare(2) affects only this thread, which ends right after.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error()).context("unshare(CLONE_NEWNET)");
            }
            let fd = File::open("/proc/thread-self/ns/net").context("open the new netns")?;
            Ok(Self { fd })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("netns thread panicked"))?
    }

    /// A path naming this namespace to other tools while this process lives.
    pub fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd())
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Moves the calling thread into this namespace (threads it spawns later follow).
    pub fn enter_current_thread(&self) -> std::io::Result<()> {
        enter(self.fd.as_raw_fd())
    }

    /// `program` to be run inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let fd = self.fd.as_raw_fd();
        // SAFETY: only setns(2) between fork and exec (async-signal-safe); the descriptor is
        // still open in the child until exec.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || enter(fd));
        }
        cmd
    }

    /// Runs `program args` inside this namespace and fails with its stderr if it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("run {program}"))?;
        anyhow::ensure!(
            out.status.success(),
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}

/// setns(2) into the network namespace behind `fd`.
pub fn enter(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setns(2) with a namespace descriptor we own.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
