//! Shared test fixtures: temporary projects, the glaux binary, and a moto S3/Glue server.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Path of the glaux binary under test.
pub fn glaux_bin() -> &'static str {
    env!("CARGO_BIN_EXE_glaux")
}

/// The repository root (the demo project).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch project created by `glaux init`, with its own home so history stays inside.
pub struct TestProject {
    pub dir: TempDir,
}

impl TestProject {
    /// A fresh project holding the demo tables and sample data.
    pub fn new() -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new(glaux_bin())
            .arg("init")
            .arg(dir.path().join("project"))
            .stderr(Stdio::null())
            .status()
            .expect("run glaux init");
        assert!(status.success(), "glaux init failed");
        TestProject { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `glaux` run inside the project with an isolated home and no AWS settings leaking in.
    pub fn glaux(&self) -> Command {
        let mut command = Command::new(glaux_bin());
        command.current_dir(self.path());
        isolate(&mut command, &self.home());
        command
    }

    /// Removes the jobs and the tables only they write, leaving the raw tables (customers,
    /// regions, the logs).
    pub fn without_jobs(&self) {
        for entry in std::fs::read_dir(self.path().join("sql")).expect("scaffold has sql/") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for file in [
            "catalog/customer_data/customer_base_cleaned.json",
            "catalog/customer_data/customer_base_quarantine.json",
            "catalog/customer_data/customer_features.json",
        ] {
            std::fs::remove_file(self.path().join(file)).expect("scaffold file exists");
        }
        for entry in std::fs::read_dir(self.path().join("catalog/aurora_logs")).expect("scaffold has log tables") {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if ["digest", "timeline", "summary", "activity"].iter().any(|s| name.ends_with(s)) {
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    /// Runs `glaux ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.glaux().args(args).stdin(Stdio::null()).output().expect("run glaux")
    }

    /// Runs `glaux ARGS`, asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "glaux {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Writes a file inside the project.
    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// A SQL expression that is one row of `table` as text, every column (NULL as `NULL`) joined
/// by `|`, with the columns qualified by `alias`: row digests that depend on neither row order
/// nor file layout hash it.
pub fn row_text(p: &TestProject, table: &str, alias: &str) -> String {
    let (schema, name) = table.split_once('.').unwrap();
    let columns = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        &format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
        ),
    ]);
    columns
        .lines()
        .skip(1)
        .map(|c| format!("coalesce(CAST({alias}\"{c}\" AS VARCHAR), 'NULL')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ")
}

/// Gives a command its own HOME and data directory and strips ambient AWS configuration. The
/// EC2 metadata service is disabled: a credential lookup must never leave loopback in tests.
pub fn isolate(command: &mut Command, home: &Path) {
    std::fs::create_dir_all(home).unwrap();
    command.env("HOME", home).env("XDG_DATA_HOME", home.join("data")).env("TERM", "xterm-256color");
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("GLAUX_") {
            command.env_remove(key);
        }
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A helper server process on a free loopback port, waited for until it accepts connections and
/// killed when dropped.
pub struct LoopbackServer {
    child: Child,
    pub port: u16,
}

impl LoopbackServer {
    /// Runs `program` with the arguments `args(port)` gives, and waits up to 60 s for the port.
    pub fn start(program: &str, args: impl FnOnce(u16) -> Vec<String>) -> LoopbackServer {
        LoopbackServer::start_with_env(program, &[], args)
    }

    /// [`LoopbackServer::start`] with extra environment variables.
    pub fn start_with_env(
        program: &str,
        env: &[(&str, String)],
        args: impl FnOnce(u16) -> Vec<String>,
    ) -> LoopbackServer {
        let port = free_port();
        let child = Command::new(program)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} ({e}); install the test requirements with `python3 -m pip install -r tests/requirements.txt`"));
        let server = LoopbackServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not listen on port {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moto server on loopback, serving S3, Glue and KMS.
pub struct Moto {
    server: LoopbackServer,
}

impl Moto {
    /// Starts moto's server on a free loopback port, as a module so that no console-script
    /// shim needs to be on PATH.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// A moto server that records every request it serves, one JSON line each, in `file`
    /// (moto's recorder).
    pub fn recording(file: &Path) -> Moto {
        Moto::start_with_env(&[
            ("MOTO_ENABLE_RECORDING", "true".to_string()),
            ("MOTO_RECORDER_FILEPATH", file.display().to_string()),
        ])
    }

    fn start_with_env(env: &[(&str, String)]) -> Moto {
        let server = LoopbackServer::start_with_env("python3", env, |port| {
            vec!["-m".into(), "moto.server".into(), "-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()]
        });
        Moto { server }
    }

    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// Environment pointing the AWS chain and glaux at this server, with dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Warehouse settings for `location` on this server.
    pub fn warehouse_settings(&self, location: &str) -> glaux::config::WarehouseSettings {
        glaux::config::WarehouseSettings {
            location: location.to_string(),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint()),
            allow_http: true,
            path_style: true,
            sse: None,
            sse_kms_key_id: None,
        }
    }

    /// Creates a bucket through boto3.
    pub fn create_bucket(&self, bucket: &str) {
        self.python(&format!("import boto3; boto3.client('s3').create_bucket(Bucket='{bucket}')"));
    }

    /// Runs a Python snippet with this server's environment; returns stdout.
    pub fn python(&self, code: &str) -> String {
        let output = Command::new("python3").arg("-c").arg(code).envs(self.env()).output().expect("python3");
        assert!(output.status.success(), "python failed: {}", stderr(&output));
        stdout(&output)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
