//! `label serve`: a local web page (127.0.0.1 only) showing the queued faces large, one
//! question at a time, with a keyboard key per value, `s`/space for skip and Backspace
//! (or Ctrl+Z) to take the last answer back. Every answer is saved to the store at once
//! (atomically), and the page asks the store what is still pending, so a restart
//! mid-queue picks up where it stopped. Each page names its tab: two tabs on one queue
//! are shown different questions, and undo takes back the tab's own answers.

use super::index::DatasetIndex;
use super::queue;
use super::store::{Label, LabelStore, Source};
use super::{LabelError, Paths, Schema};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tiny_http::{Header, Method, Request, Response, Server};

const PAGE: &str = include_str!("page.html");

/// A running server; dropping it does not stop it, [`ServeHandle::stop`] does.
pub struct ServeHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServeHandle {
    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Blocks until the server stops (it runs until the process ends).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    paths: Paths,
    schema: Schema,
    files: HashSet<String>,
    lock: Mutex<()>,
    /// This server's answers, last at the end, for undo. Kept in memory: a restart
    /// starts a fresh history (the answers themselves are on disk).
    history: Mutex<Vec<Undo>>,
    /// Which page (browser tab) was last shown each question, and when: two tabs
    /// answering the same queue are shown different questions ([`CLAIM`]).
    claims: Mutex<HashMap<(String, String), (String, Instant)>>,
}

/// How long a question shown in one tab is kept from the others (a person reading it).
const CLAIM: Duration = Duration::from_secs(120);

/// The largest request body read (an answer is a few hundred bytes).
const MAX_BODY: u64 = 64 * 1024;

/// What one answer changed, so that undo can put it back.
struct Undo {
    /// The tab that answered (undo takes back that tab's last answer).
    tab: Option<String>,
    file: String,
    attribute: String,
    change: Change,
}

enum Change {
    /// A skip was recorded.
    Skipped,
    /// `written` replaced `previous` (a heuristic's or the model's label, or none), when
    /// the last round recorded was `round`.
    Labeled {
        written: Label,
        previous: Option<Label>,
        round: u32,
    },
}

#[derive(Deserialize)]
struct Answer {
    file: String,
    attribute: String,
    value: String,
}

/// Starts the server for dataset `data` on 127.0.0.1:`port` (0: any free port).
pub fn start(data: &Path, port: u16) -> Result<ServeHandle, LabelError> {
    let paths = Paths::new(data);
    let schema = paths.load_schema()?;
    let index = DatasetIndex::open(data)?;
    LabelStore::load(&paths.labels(), &schema)?;
    queue::check_queue(&paths, &schema, &index)?;
    queue::read_skipped(&paths)?;
    let bind = format!("127.0.0.1:{port}");
    let server = Server::http(&bind).map_err(|e| LabelError::Serve {
        addr: bind.clone(),
        reason: e.to_string(),
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| LabelError::Serve {
            addr: bind.clone(),
            reason: "not an IP socket".into(),
        })?;
    let files = index.images.iter().cloned().collect();
    let state = Arc::new(State {
        paths,
        schema,
        files,
        lock: Mutex::new(()),
        history: Mutex::new(Vec::new()),
        claims: Mutex::new(HashMap::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stop2.load(Ordering::SeqCst) {
            match server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(req)) => handle(&state, req),
                Ok(None) => {}
                Err(_) => break,
            }
        }
    });
    Ok(ServeHandle {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|_| Header::from_bytes(&b"X-None"[..], &b"1"[..]).unwrap())
}

fn respond<R: std::io::Read>(req: Request, resp: Response<R>) {
    let _ = req.respond(resp);
}

fn json(req: Request, value: serde_json::Value) {
    let body = value.to_string();
    respond(
        req,
        Response::from_string(body).with_header(header("Content-Type", "application/json")),
    );
}

fn error(req: Request, code: u16, msg: &str) {
    respond(
        req,
        Response::from_string(msg.to_string()).with_status_code(code),
    );
}

/// A URL path with its `%XX` escapes decoded (RFC 3986, 2.1); a `%` not followed by two
/// hex digits stays as it is. Byte by byte: slicing the `str` panicked on a `%` before
/// a multi-byte character, ending the server on one hand-made request.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request is refused as not from this server's own page, or `None`. The server
/// listens on 127.0.0.1 only, but any web page open in the same browser can send it
/// requests: a cross-site form or `text/plain` POST needs no CORS preflight (and an
/// injected answer is a human label no round overwrites), and DNS rebinding lets a page
/// read the API under a name of its own. So the `Host` must name this computer
/// ([`loopback`]), an `Origin` (sent on cross-site and on POST requests) must too, and a
/// POST must be `application/json`, which a cross-site page cannot send without the
/// preflight this server never grants (Jupyter's server checks the Host the same way).
fn foreign(req: &Request) -> Option<&'static str> {
    let get = |name: &'static str| {
        req.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_ascii_lowercase())
    };
    if !get("Host").is_some_and(|h| loopback(&h)) {
        return Some("the Host header does not name this computer (127.0.0.1 or localhost)");
    }
    if let Some(origin) = get("Origin") {
        if !origin.strip_prefix("http://").is_some_and(loopback) {
            return Some("a request from another site's page");
        }
    }
    // A cross-site GET carries no Origin, yet `/api/next` claims a question for its tab:
    // an `<img>` on any page could hide the queue from the person's tab. Browsers say
    // where a request comes from (Fetch Metadata); curl and older browsers send nothing.
    if get("Sec-Fetch-Site").is_some_and(|s| s != "same-origin" && s != "none") {
        return Some("a request from another site's page");
    }
    if *req.method() == Method::Post
        && !get("Content-Type").is_some_and(|c| c.starts_with("application/json"))
    {
        return Some("answers are sent as application/json");
    }
    None
}

/// Whether `host` (`name[:port]`, lower case) names this computer by its loopback address
/// or `localhost`. Any port: a forwarded one (`ssh -L 9000:127.0.0.1:8765`, an editor's
/// port forwarding) reaches the page under another number, and a rebinding attack needs
/// a name of its own.
fn loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

fn handle(st: &State, mut req: Request) {
    if let Some(why) = foreign(&req) {
        return error(req, 403, why);
    }
    let url = req.url().split('?').next().unwrap_or("/").to_string();
    // The page names its tab (`?tab=...`): questions and undo are kept per tab.
    let tab = req
        .url()
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("tab=")))
        .map(percent_decode);
    match (req.method().clone(), url.as_str()) {
        (Method::Get, "/") => respond(
            req,
            Response::from_string(PAGE)
                .with_header(header("Content-Type", "text/html; charset=utf-8")),
        ),
        (Method::Get, "/api/next") => match next(st, tab.as_deref()) {
            Ok(v) => json(req, v),
            Err(e) => error(req, 500, &e.to_string()),
        },
        (Method::Get, u) if u.starts_with("/image/") => {
            let file = percent_decode(&u["/image/".len()..]);
            if !st.files.contains(&file) {
                return error(req, 404, "not an image of this dataset");
            }
            let ext = Path::new(&file)
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            let kind = match ext.as_deref() {
                Some("png") => "image/png",
                Some("webp") => "image/webp",
                Some("gif") => "image/gif",
                Some("bmp") => "image/bmp",
                Some("tif" | "tiff") => "image/tiff",
                _ => "image/jpeg",
            };
            match std::fs::read(st.paths.data.join(&file)) {
                Ok(bytes) => respond(
                    req,
                    Response::from_data(bytes).with_header(header("Content-Type", kind)),
                ),
                Err(e) => error(req, 404, &e.to_string()),
            }
        }
        (Method::Post, "/api/answer") => {
            // An answer is a few hundred bytes: a larger body (a stuck or hostile local
            // client) is refused, not read whole while every tab waits.
            let mut body = String::new();
            let read = std::io::Read::read_to_string(
                &mut std::io::Read::take(req.as_reader(), MAX_BODY + 1),
                &mut body,
            );
            if read.is_err() {
                return error(req, 400, "unreadable body");
            }
            if body.len() as u64 > MAX_BODY {
                return error(req, 413, "request body too large");
            }
            let Ok(a) = serde_json::from_str::<Answer>(&body) else {
                return error(req, 400, "bad JSON");
            };
            match save_answer(st, &a, tab) {
                Ok(()) => json(req, serde_json::json!({"ok": true})),
                Err(e) => error(req, e.status, &e.reason),
            }
        }
        (Method::Post, "/api/undo") => match undo(st, tab.as_deref()) {
            Ok(Some(u)) => json(
                req,
                serde_json::json!({"ok": true, "file": u.file, "attribute": u.attribute}),
            ),
            Ok(None) => error(req, 409, "nothing to undo"),
            Err(e) => error(req, 409, &e),
        },
        _ => error(req, 404, "not found"),
    }
}

fn next(st: &State, tab: Option<&str>) -> Result<serde_json::Value, LabelError> {
    let _g = st.lock.lock().unwrap_or_else(|p| p.into_inner());
    let store = LabelStore::load(&st.paths.labels(), &st.schema)?;
    // The queue and the skips read once: what is pending, and what left the queue (a
    // person's answers, and skips, counted apart).
    let items = queue::read_queue(&st.paths)?;
    let skipped_pairs = queue::read_skipped(&st.paths)?;
    let (mut answered, mut skipped) = (0, 0);
    for it in &items {
        let human = store
            .get(&it.file, &it.attribute)
            .is_some_and(|l| l.source == crate::labels::Source::Human);
        if human {
            answered += 1;
        } else if skipped_pairs.contains(&(it.file.clone(), it.attribute.clone())) {
            skipped += 1;
        }
    }
    // No queue file at all (right after `init`); an empty one is a queue with nothing
    // left to ask.
    let no_queue = !st.paths.queue().is_file();
    let pending = queue::pending_in(items, &skipped_pairs, &st.schema, &store);
    let Some(first) = pending.first() else {
        return Ok(
            serde_json::json!({"done": true, "no_queue": no_queue, "answered": answered, "skipped": skipped}),
        );
    };
    // The first question no other tab was shown in the last [`CLAIM`] (the first of all
    // when every one is), claimed for this tab.
    let mut claims = st.claims.lock().unwrap_or_else(|p| p.into_inner());
    claims.retain(|_, (_, at)| at.elapsed() < CLAIM);
    let free = |it: &&queue::QueueItem| {
        claims
            .get(&(it.file.clone(), it.attribute.clone()))
            .is_none_or(|(t, _)| Some(t.as_str()) == tab)
    };
    let it = pending.iter().find(free).unwrap_or(first);
    if let Some(t) = tab {
        claims.insert(
            (it.file.clone(), it.attribute.clone()),
            (t.to_string(), Instant::now()),
        );
    }
    drop(claims);
    let attr = st.schema.attribute(&it.attribute).ok_or_else(|| {
        LabelError::invalid(
            &st.paths.queue(),
            0,
            format!("unknown attribute {}", it.attribute),
        )
    })?;
    let values: Vec<_> = attr
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"value": v, "key": attr.key_of(i).map(String::from).unwrap_or_default()}))
        .collect();
    Ok(serde_json::json!({
        "done": false, "file": it.file, "attribute": it.attribute, "values": values,
        "suggestion": it.suggestion, "confidence": it.confidence,
        "remaining": pending.len(), "answered": answered, "skipped": skipped,
    }))
}

/// Why an answer was not saved, with its HTTP status.
struct Refused {
    status: u16,
    reason: String,
}

/// A malformed answer (400).
impl From<String> for Refused {
    fn from(reason: String) -> Self {
        Refused {
            status: 400,
            reason,
        }
    }
}

fn save_answer(st: &State, a: &Answer, tab: Option<String>) -> Result<(), Refused> {
    let _g = st.lock.lock().unwrap_or_else(|p| p.into_inner());
    if !st.files.contains(&a.file) {
        return Err(format!("{} is not an image of this dataset", a.file).into());
    }
    let attr = st
        .schema
        .attribute(&a.attribute)
        .ok_or_else(|| format!("unknown attribute {}", a.attribute))?;
    let record = |change| {
        let mut h = st.history.lock().unwrap_or_else(|p| p.into_inner());
        h.push(Undo {
            tab: tab.clone(),
            file: a.file.clone(),
            attribute: a.attribute.clone(),
            change,
        });
    };
    if a.value == "skip" {
        queue::add_skip(&st.paths, &a.file, &a.attribute).map_err(|e| e.to_string())?;
        record(Change::Skipped);
        return Ok(());
    }
    if attr.index_of(&a.value).is_none() {
        return Err(format!("{} is not a value of {}", a.value, a.attribute).into());
    }
    let round = last_round(&st.paths);
    let written = Label {
        file: a.file.clone(),
        attribute: a.attribute.clone(),
        value: a.value.clone(),
        confidence: 1.0,
        source: Source::Human,
        round,
    };
    let (written, previous) = LabelStore::update(&st.paths.labels(), &st.schema, |store| {
        let previous = store.get(&a.file, &a.attribute).cloned();
        match previous {
            // The same answer again keeps the round it was first given in, as `label
            // import` does (`store_answers`); undoing it then changes nothing.
            Some(p) if p.source == Source::Human && p.value == written.value => {
                Ok((p.clone(), Some(p)))
            }
            // Answered since this tab was shown the question (another tab given the
            // same question once every one was claimed, a person beside, an import):
            // the first answer stands. The second replaced it without a word.
            Some(p) if p.source == Source::Human => Err(Refused {
                status: 409,
                reason: format!(
                    "{} {} was answered {} meanwhile (another tab or an import); that \
                     answer stands",
                    a.file, a.attribute, p.value
                ),
            }),
            _ => {
                store.set(written.clone());
                Ok((written, previous))
            }
        }
    })
    .map_err(|e| e.to_string())??;
    record(Change::Labeled {
        written,
        previous,
        round,
    });
    Ok(())
}

/// The last round `rounds.json` records (0 before any). It stamps answers and tells undo
/// whether a round has run since, which only inform: an unreadable history must not turn
/// the page's answers away (`label round` names the file).
fn last_round(paths: &Paths) -> u32 {
    super::session::read_rounds(paths)
        .unwrap_or_default()
        .last()
        .map_or(0, |r| r.round)
}

/// Takes this server's last answer back: a skip is forgotten, a label gives way to the
/// one it replaced (none where a round has run since), and the question is pending
/// again. Refused, and the answer dropped from the history, when the store no longer
/// holds it (a round or an import rewrote it since).
fn undo(st: &State, tab: Option<&str>) -> Result<Option<Undo>, String> {
    let _g = st.lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut history = st.history.lock().unwrap_or_else(|p| p.into_inner());
    // This tab's last answer (any tab's, for a caller that names none).
    let at = history
        .iter()
        .rposition(|u| tab.is_none() || u.tab.as_deref() == tab);
    let Some(at) = at else {
        return Ok(None);
    };
    let last = &history[at];
    match &last.change {
        Change::Skipped => {
            queue::remove_skip(&st.paths, &last.file, &last.attribute)
                .map_err(|e| e.to_string())?;
        }
        Change::Labeled {
            written,
            previous,
            round,
        } => {
            let path = st.paths.labels();
            let _lock = LabelStore::lock(&path).map_err(|e| e.to_string())?;
            let mut store = LabelStore::load(&path, &st.schema).map_err(|e| e.to_string())?;
            if store.get(&last.file, &last.attribute) != Some(written) {
                // Out of the history, so that the next undo reaches the answer before
                // it: left in, it refused every later undo of the tab.
                let why = format!(
                    "{}: the answer {} for {} was changed since (by a round or an import); \
                     not undone (undo again for the answer before it)",
                    path.display(),
                    written.value,
                    last.file
                );
                history.remove(at);
                return Err(why);
            }
            store.remove(&last.file, &last.attribute);
            // The label the answer replaced, unless a round has run since: that round
            // withdrew or replaced it (a contradicted vote, last round's prediction), and
            // the next round labels the image afresh.
            let round_now = last_round(&st.paths);
            // A person's label it replaced (the same answer given twice, another tab's)
            // is no round's to redo: it always comes back.
            let still_true = |p: &&Label| p.source == Source::Human || round_now == *round;
            if let Some(p) = previous.as_ref().filter(still_true) {
                store.set(p.clone());
            }
            store.save(&path).map_err(|e| e.to_string())?;
        }
    }
    Ok(Some(history.remove(at)))
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_escapes_decode_and_a_stray_percent_stays() {
        assert_eq!(percent_decode("images/a%20b%2Cc.png"), "images/a b,c.png");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        // A `%` before a two-byte character: kept as it is, no panic.
        assert_eq!(percent_decode("/image/%aé"), "/image/%aé");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
