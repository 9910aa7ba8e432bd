//! `label serve`: the web page answered by keyboard in headless Chromium, and undo.

use super::*;

fn wait_for(port: u16, sid: &str, want: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let s = webdriver::state(port, sid);
        if want(&s) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "page never reached the expected state (last: {})",
        webdriver::state(port, sid)
    );
}

#[test]
fn web_page_answers_by_keyboard_in_headless_chromium() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let (dport, sid) = (browser.port, browser.sid.clone());
    // glasses (yes/no) on synthetic faces: one question per image.
    let d = synth_data(10, 4);
    labels::init(&root().join("labels/photo.toml"), d.path(), Q).unwrap();
    let q = labels::queue::queue(d.path(), 3).unwrap();
    assert_eq!(q.items, 3);
    // A round's guess on every question ("no", as a round writes it), for Enter to take.
    let queue_csv = d.path().join("labels/queue.csv");
    let text = std::fs::read_to_string(&queue_csv).unwrap();
    let guessed: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => l.to_string(),
            _ => {
                let mut f: Vec<&str> = l.split(',').collect();
                (f[3], f[4]) = ("no", "0.6200");
                f.join(",")
            }
        })
        .collect();
    std::fs::write(&queue_csv, guessed.join("\n") + "\n").unwrap();
    // Points the browser at a (re)started server.
    let open = |server: &labels::serve::ServeHandle| {
        webdriver::call(
            dport,
            "POST",
            &format!("/session/{sid}/url"),
            &serde_json::json!({"url": server.url()}).to_string(),
        );
    };
    let run = || -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        // Answer two, restart the server, answer the third: the queue resumes.
        let server = labels::serve::start(d.path(), 0).unwrap();
        open(&server);
        for k in ["1", "2"] {
            let s = wait_for(dport, &sid, |s| {
                s.starts_with("ready|") && !seen.iter().any(|f| s.ends_with(f.as_str()))
            });
            seen.push(s["ready|".len()..].to_string());
            webdriver::key(dport, &sid, k);
        }
        wait_for(dport, &sid, |s| {
            s.starts_with("ready|") && !seen.iter().any(|f| s.ends_with(f.as_str()))
        });
        server.stop();
        let server = labels::serve::start(d.path(), 0).unwrap();
        open(&server);
        let s = wait_for(dport, &sid, |s| s.starts_with("ready|"));
        let third = s["ready|".len()..].to_string();
        seen.push(third.clone());
        webdriver::key(dport, &sid, "1");
        wait_for(dport, &sid, |s| s.starts_with("done"));
        // Backspace takes the third answer back: its question shows again, and the
        // store no longer holds a person's label for it; then the suggested "no" instead.
        webdriver::key(dport, &sid, "\u{E003}");
        wait_for(dport, &sid, |s| s == format!("ready|{third}"));
        let schema = Schema::load(&d.path().join("labels/schema.toml")).unwrap();
        let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
        assert!(
            store
                .get(&third, "glasses")
                .is_none_or(|l| l.source != Source::Human),
            "undo left {:?}",
            store.get(&third, "glasses")
        );
        // The page names the suggestion with its confidence; Enter takes it ("no").
        let shown = webdriver::call(
            dport,
            "POST",
            &format!("/session/{sid}/execute/sync"),
            r#"{"script":"return document.getElementById('suggestion').textContent","args":[]}"#,
        );
        let shown = shown["value"].as_str().unwrap_or("");
        assert!(shown.contains("suggested: no (62% sure)"), "{shown:?}");
        webdriver::key(dport, &sid, "\u{E007}");
        wait_for(dport, &sid, |s| s.starts_with("done"));
        server.stop();
        seen
    };
    let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    webdriver::call(dport, "DELETE", &format!("/session/{sid}"), "");
    let seen = seen.unwrap();
    assert_eq!(seen.len(), 3);
    let schema = Schema::load(&d.path().join("labels/schema.toml")).unwrap();
    let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    let got: Vec<String> = seen
        .iter()
        .map(|f| {
            store
                .get(f, "glasses")
                .map(|l| format!("{}:{}", l.value, l.source))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(got, ["yes:human", "no:human", "no:human"]);
}

/// POSTs `body` to `url` on the page's server: (status, body).
fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    request(addr, "POST", path, body)
}

/// Sends one HTTP request to the page's server, as its page does: (status, body).
fn request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let head = format!("Host: {addr}\r\nContent-Type: application/json\r\n");
    request_with(addr, method, path, body, &head)
}

/// Sends one HTTP request with the header lines `head` (each ending in CRLF).
fn request_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    head: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Regression: any web page open in the browser could write human labels through the
/// server (a cross-site `text/plain` POST needs no preflight), and read it under another
/// host name (DNS rebinding). Only the server's own page gets through now.
#[test]
fn serve_refuses_requests_from_other_sites() {
    let d = synth_data(6, 4);
    labels::init(&root().join("labels/photo.toml"), d.path(), Q).unwrap();
    labels::queue::queue(d.path(), 2).unwrap();
    let paths = labels::Paths::new(d.path());
    let file = labels::queue::read_queue(&paths).unwrap()[0].file.clone();
    let before = std::fs::read(paths.labels()).unwrap();
    let server = labels::serve::start(d.path(), 0).unwrap();
    let (addr, port) = (server.addr, server.addr.port());
    let body =
        serde_json::json!({"file": file, "attribute": "glasses", "value": "yes"}).to_string();
    let json = "Content-Type: application/json\r\n";
    for (method, path, head) in [
        (
            "POST",
            "/api/answer",
            format!("Host: {addr}\r\nContent-Type: text/plain\r\n"),
        ),
        ("POST", "/api/answer", format!("Host: {addr}\r\n")),
        (
            "POST",
            "/api/answer",
            format!("Host: {addr}\r\nOrigin: http://evil.example\r\n{json}"),
        ),
        (
            "POST",
            "/api/answer",
            format!("Host: evil.example:{port}\r\n{json}"),
        ),
        ("GET", "/api/next", format!("Host: evil.example:{port}\r\n")),
        ("GET", "/", "".to_string()),
        // Regression: another site's `<img src=.../api/next?tab=x>` claimed questions.
        (
            "GET",
            "/api/next",
            format!("Host: {addr}\r\nSec-Fetch-Site: cross-site\r\n"),
        ),
    ] {
        let (code, _) = request_with(addr, method, path, &body, &head);
        assert_eq!(code, 403, "{method} {path} with {head:?}");
    }
    assert_eq!(
        std::fs::read(paths.labels()).unwrap(),
        before,
        "a refused answer was saved"
    );
    // The page's own requests, by address or by `localhost`, get through.
    let local = format!("Host: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n{json}");
    assert_eq!(
        request_with(addr, "POST", "/api/answer", &body, &local).0,
        200
    );
    assert_eq!(request(addr, "GET", "/", "").0, 200);
    // Through a forwarded port (`ssh -L 9000:127.0.0.1:PORT`): another number, same page.
    let forwarded = "Host: 127.0.0.1:9000\r\nOrigin: http://127.0.0.1:9000\r\n";
    assert_eq!(request_with(addr, "GET", "/api/next", "", forwarded).0, 200);
    let own = format!("Host: {addr}\r\nSec-Fetch-Site: same-origin\r\n");
    assert_eq!(request_with(addr, "GET", "/api/next", "", &own).0, 200);
    let rebound = "Host: 127.0.0.1.evil.example:9000\r\n";
    assert_eq!(request_with(addr, "GET", "/api/next", "", rebound).0, 403);
}

/// `label serve`'s undo: the last answer goes, most recent first; a label gives way to
/// the synthesized one it replaced, a skip is forgotten, and an answer that a round or an
/// import rewrote since is not undone.
#[test]
fn serve_undo_takes_the_last_answer_back() {
    let d = synth_data(10, 4);
    labels::init(&root().join("labels/photo.toml"), d.path(), Q).unwrap();
    labels::queue::queue(d.path(), 3).unwrap();
    let paths = labels::Paths::new(d.path());
    let items = labels::queue::read_queue(&paths).unwrap();
    let (a, b) = (items[0].file.clone(), items[1].file.clone());
    let schema = Schema::load(&paths.schema()).unwrap();
    let load = || labels::LabelStore::load(&paths.labels(), &schema).unwrap();
    // A model label that the person's answer will replace.
    let model = labels::Label {
        file: a.clone(),
        attribute: "glasses".into(),
        value: "no".into(),
        confidence: 0.7,
        source: Source::Model,
        round: 1,
    };
    let mut store = load();
    store.set(model.clone());
    store.save(&paths.labels()).unwrap();

    let server = labels::serve::start(d.path(), 0).unwrap();
    let answer = |file: &str, value: &str| {
        let body = serde_json::json!({"file": file, "attribute": "glasses", "value": value});
        post(server.addr, "/api/answer", &body.to_string())
    };
    assert_eq!(answer(&a, "yes").0, 200);
    assert_eq!(answer(&b, "skip").0, 200);
    assert_eq!(load().get(&a, "glasses").unwrap().source, Source::Human);
    assert!(labels::queue::read_skipped(&paths)
        .unwrap()
        .contains(&(b.clone(), "glasses".into())));
    // The page counts answers and skips apart.
    let next: serde_json::Value =
        serde_json::from_str(&request(server.addr, "GET", "/api/next", "").1).unwrap();
    assert_eq!(
        (next["answered"].as_u64(), next["skipped"].as_u64()),
        (Some(1), Some(1))
    );

    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    assert!(labels::queue::read_skipped(&paths).unwrap().is_empty());
    assert_eq!(load().get(&a, "glasses").unwrap().source, Source::Human);
    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    assert_eq!(load().get(&a, "glasses"), Some(&model));
    let (code, body) = post(server.addr, "/api/undo", "{}");
    assert_eq!((code, body.as_str()), (409, "nothing to undo"));

    // Two tabs on one queue are shown different questions, and each tab's undo takes
    // back its own answer.
    let show = |tab: &str| -> serde_json::Value {
        let path = format!("/api/next?tab={tab}");
        serde_json::from_str(&request(server.addr, "GET", &path, "").1).unwrap()
    };
    let (one, two) = (show("one"), show("two"));
    assert_ne!(one["file"], two["file"], "{one} {two}");
    assert_eq!(show("one")["file"], one["file"], "a tab keeps its question");
    let c = one["file"].as_str().unwrap().to_string();
    let body = serde_json::json!({"file": c, "attribute": "glasses", "value": "no"});
    assert_eq!(
        request(
            server.addr,
            "POST",
            "/api/answer?tab=one",
            &body.to_string()
        )
        .0,
        200
    );
    assert_eq!(
        request(server.addr, "POST", "/api/undo?tab=two", "{}").1,
        "nothing to undo"
    );
    assert_eq!(
        request(server.addr, "POST", "/api/undo?tab=one", "{}").0,
        200
    );
    assert!(load()
        .get(&c, "glasses")
        .is_none_or(|l| l.source != Source::Human));
    // Rewritten since (as an import would): refused, the store left as it is.
    assert_eq!(answer(&b, "yes").0, 200);
    assert_eq!(answer(&a, "yes").0, 200);
    let mut store = load();
    store.set(labels::Label {
        value: "no".into(),
        confidence: 1.0,
        source: Source::Human,
        round: 7,
        ..model.clone()
    });
    store.save(&paths.labels()).unwrap();
    let (code, body) = post(server.addr, "/api/undo", "{}");
    assert_eq!(code, 409);
    assert!(body.contains("changed since"), "{body}");
    assert_eq!(load().get(&a, "glasses").unwrap().value, "no");
    // Regression: the refused answer stayed last in the history and refused every later
    // undo; now the next undo takes back the answer before it.
    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    assert!(load()
        .get(&b, "glasses")
        .is_none_or(|l| l.source != Source::Human));
    // Regression: a second answer to a question a person (another tab, an import)
    // answered since replaced that answer without a word.
    let (code, body) = answer(&a, "yes");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("answered no meanwhile"), "{body}");
    assert_eq!(load().get(&a, "glasses").unwrap().value, "no");
    // The same answer again keeps the round it was given in (it was re-stamped with the
    // current one), and taking it back leaves it.
    assert_eq!(answer(&a, "no").0, 200);
    assert_eq!(load().get(&a, "glasses").unwrap().round, 7);
    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    let kept = load().get(&a, "glasses").cloned().unwrap();
    assert_eq!((kept.value.as_str(), kept.round), ("no", 7));
    // A round between an answer and its undo: the synthesized label the answer replaced
    // is that round's to redo, so it does not come back; a person's label it replaced
    // (the same answer given twice) does, as a round never touches people's labels.
    let mut store = load();
    store.set(labels::Label {
        file: b.clone(),
        ..model.clone()
    });
    store.save(&paths.labels()).unwrap();
    assert_eq!(answer(&b, "yes").0, 200);
    assert_eq!(answer(&b, "yes").0, 200);
    labels::round(d.path(), &tiny_round(2), Q).unwrap();
    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    let kept = load().get(&b, "glasses").cloned().unwrap();
    assert_eq!((kept.value.as_str(), kept.source), ("yes", Source::Human));
    assert_eq!(post(server.addr, "/api/undo", "{}").0, 200);
    assert_eq!(
        load().get(&b, "glasses"),
        None,
        "the pre-round model label came back"
    );
    server.stop();
}
