//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` beside the crate, or `None` (with a note on stderr) when absent.
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(sub);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (the shared test data is not beside the checkout)",
            p.display()
        );
        None
    }
}

/// `../shared/models/NAME`, or `None` with a note.
pub fn shared_model(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

/// The facesynth binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facesynth"))
}

/// Runs facesynth with `args`, asserting success; returns its output.
pub fn run_ok(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run facesynth");
    assert!(
        out.status.success(),
        "facesynth {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The first `n` files of a folder, sorted.
pub fn first_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.truncate(n);
    v
}

/// A minimal WebDriver client over plain HTTP/1.1 (chromedriver speaks JSON).
pub mod webdriver {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn call(port: u16, method: &str, path: &str, body: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect chromedriver");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        // Read the head, then exactly Content-Length bytes (chromedriver may keep the
        // connection open despite `Connection: close`).
        let mut buf = Vec::new();
        let mut byte = [0u8; 4096];
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = s.read(&mut byte).expect("read chromedriver");
            assert!(n > 0, "chromedriver closed the connection");
            buf.extend_from_slice(&byte[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        match len {
            Some(len) => {
                while buf.len() < head_end + len {
                    let n = s.read(&mut byte).expect("read chromedriver");
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&byte[..n]);
                }
            }
            None => {
                let _ = s.read_to_end(&mut buf);
            }
        }
        let mut body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
        if head.contains("transfer-encoding: chunked") {
            let mut out = String::new();
            let mut rest = body.as_str();
            while let Some((size, after)) = rest.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 || after.len() < n + 2 {
                    break;
                }
                out.push_str(&after[..n]);
                rest = &after[n + 2..];
            }
            body = out;
        }
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    pub fn state(port: u16, sid: &str) -> String {
        let v = call(
            port,
            "POST",
            &format!("/session/{sid}/execute/sync"),
            r#"{"script":"return (document.body.dataset.state||'') + '|' + (document.body.dataset.file||'')","args":[]}"#,
        );
        v["value"].as_str().unwrap_or("").to_string()
    }

    pub fn key(port: u16, sid: &str, k: &str) {
        let body = serde_json::json!({"actions": [{"type": "key", "id": "kb", "actions": [
            {"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]}]});
        call(
            port,
            "POST",
            &format!("/session/{sid}/actions"),
            &body.to_string(),
        );
    }
}

pub fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Ends the child (chromedriver, and with it chromium) however the test ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium driven over WebDriver, for checking pages; ended on drop.
pub struct Browser {
    /// chromedriver's port.
    pub port: u16,
    /// The WebDriver session.
    pub sid: String,
    _driver: KillOnDrop,
    /// chromedriver's and Chromium's temporary folders (their `TMPDIR`): each session
    /// left a 2-3 MB profile and a socket folder in /tmp, about 200 MB a day of test
    /// runs. Dropped after `_driver`, so nothing writes into it as it goes.
    _tmp: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session that records console messages,
    /// or `None` (with the reason on stderr) when they are not installed.
    pub fn start() -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (
            which(&["chromium", "chromium-browser"]),
            which(&["chromedriver"]),
        ) else {
            eprintln!(
                "skip: chromium and chromedriver not found (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tmp = tempfile::tempdir().unwrap();
        let driver = KillOnDrop(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .env("TMPDIR", tmp.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": ["--headless=new", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}}}});
        let v = webdriver::call(port, "POST", "/session", &caps.to_string());
        let sid = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Some(Browser {
            port,
            sid,
            _driver: driver,
            _tmp: tmp,
        })
    }

    /// Opens `url` and waits for the load to finish.
    pub fn goto(&self, url: &str) {
        let body = serde_json::json!({ "url": url }).to_string();
        let v = webdriver::call(
            self.port,
            "POST",
            &format!("/session/{}/url", self.sid),
            &body,
        );
        assert!(v["value"].is_null(), "navigation to {url} failed: {v}");
    }

    /// Runs a script in the page and returns its value.
    pub fn exec(&self, script: &str) -> serde_json::Value {
        let body = serde_json::json!({ "script": script, "args": [] }).to_string();
        let v = webdriver::call(
            self.port,
            "POST",
            &format!("/session/{}/execute/sync", self.sid),
            &body,
        );
        v["value"].clone()
    }

    /// Console messages at warning level or worse since the last call (chromedriver's log).
    pub fn console_problems(&self) -> Vec<String> {
        let v = webdriver::call(
            self.port,
            "POST",
            &format!("/session/{}/se/log", self.sid),
            r#"{"type":"browser"}"#,
        );
        v["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = webdriver::call(
            self.port,
            "GET",
            &format!("/session/{}/screenshot", self.sid),
            "",
        );
        let b64 = v["value"].as_str().unwrap_or("");
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        webdriver::call(self.port, "DELETE", &format!("/session/{}", self.sid), "");
    }
}
