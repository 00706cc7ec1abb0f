//! A real PostgreSQL server for tests: `initdb` in a temporary directory, `postgres` on a
//! free loopback port, one server per test process, a fresh database per test.
//!
//! It runs the binaries of Debian's `postgresql` package (`/usr/lib/postgresql/*/bin`, or
//! the directory in `BACKDROP_PG_BIN`); `.ci/run` installs the package when it is missing,
//! so these tests never skip. The server dies with the test process (a parent-death
//! signal), and a later run removes what a dead one left in the temporary directory. As
//! root it runs as the package's `postgres` user, since PostgreSQL refuses root.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The test process's PostgreSQL server.
pub struct TestPostgres {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    databases: AtomicU32,
}

const DIR_PREFIX: &str = "backdrop-test-pg-";

impl TestPostgres {
    /// The server of this test process, started on first use.
    ///
    /// # Panics
    /// If PostgreSQL is not installed or does not start: the tests that need it must fail,
    /// not skip.
    pub fn shared() -> &'static TestPostgres {
        static SERVER: OnceLock<TestPostgres> = OnceLock::new();
        SERVER.get_or_init(|| {
            let (sent, started) = std::sync::mpsc::channel();
            // The parent-death signal follows the thread that spawned the server: one that
            // lives as long as the process.
            std::thread::Builder::new()
                .name("test-postgres".into())
                .spawn(move || {
                    let _ = sent.send(start());
                    loop {
                        std::thread::park();
                    }
                })
                .expect("a thread for the test PostgreSQL");
            started.recv().expect("the test PostgreSQL thread answers")
        })
    }

    /// A new empty database on the server, as a `postgres://` URL.
    pub async fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let status = tokio::process::Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .stdin(Stdio::null())
            .status()
            .await
            .expect("createdb runs");
        assert!(status.success(), "createdb {name} failed");
        self.url(&name)
    }

    /// The URL of database `name` on the server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory (its log is `server.log` beside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BACKDROP_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file())
        .collect();
    found.sort();
    found.pop().expect(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): \
         `apt-get install postgresql`, as .ci/run does",
    )
}

/// The `postgres` user's ids when running as root.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: plain libc calls; getpwnam's result is read at once, on this thread.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let user = libc::getpwnam(c"postgres".as_ptr());
        assert!(!user.is_null(), "running as root needs the `postgres` user of the postgresql package");
        Some(((*user).pw_uid, (*user).pw_gid))
    }
}

fn command(bin: &Path, program: &str, user: Option<(u32, u32)>, die_with_parent: bool) -> Command {
    let mut cmd = Command::new(bin.join(program));
    cmd.stdin(Stdio::null()).current_dir("/");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some((uid, gid)) = user
                && (libc::setgid(gid) != 0 || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else { continue };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) == 0 };
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn start() -> TestPostgres {
    remove_stale_dirs();
    let bin = bin_dir();
    let user = run_as();
    let root = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("the test PostgreSQL directory");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("chown the test PostgreSQL directory");
    }
    let data = root.join("data");
    let initdb = command(&bin, "initdb", user, false)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        .stdout(Stdio::null())
        .output()
        .expect("initdb runs");
    assert!(initdb.status.success(), "initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
    // A port can be taken between asking and binding: a few tries.
    for _ in 0..5 {
        let port = free_port();
        let log = std::fs::File::create(root.join("server.log")).expect("the server log");
        if let Some((uid, gid)) = user {
            let _ = std::os::unix::fs::chown(root.join("server.log"), Some(uid), Some(gid));
        }
        let mut server = command(&bin, "postgres", user, true)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&root)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=400"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.try_wait() {
                break;
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return TestPostgres { bin, port, dir: data, databases: AtomicU32::new(0) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = server.kill();
        let _ = server.wait();
    }
    let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    panic!("the test PostgreSQL did not start:\n{log}");
}
