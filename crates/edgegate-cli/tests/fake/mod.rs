//! A stand-in gate for the CLI's tests: a thread on 127.0.0.1:0 answering canned HTTP/1.1
//! responses by method and path, and recording every request it read.
//!
//! A request is recorded before its answer is written, so once the CLI process has exited every
//! request it made is already in the record: no waiting or sleeping is needed to read it.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

type Routes = HashMap<(String, String), VecDeque<(u16, String)>>;

pub struct FakeGate {
    pub url: String,
    routes: Arc<Mutex<Routes>>,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl FakeGate {
    pub fn start() -> FakeGate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        // The thread outlives the test harmlessly: it blocks in accept until the process ends.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &r, &s);
            }
        });
        FakeGate { url, routes, seen }
    }

    /// Answers `method path` with `status` and `body`. Several answers on one route are given
    /// in turn, the last one repeating.
    pub fn on(&self, method: &str, path: &str, status: u16, body: &str) -> &FakeGate {
        self.routes
            .lock()
            .unwrap()
            .entry((method.to_owned(), path.to_owned()))
            .or_default()
            .push_back((status, body.to_owned()));
        self
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, routes: &Mutex<Routes>, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "the fake gate reads sized bodies only"
    );
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.clone(), None),
    };
    let answer = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&(method.clone(), path.clone())) {
            Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
            Some(queue) => queue.front().unwrap().clone(),
            None => (404, r#"{"error":"no such admin route"}"#.to_owned()),
        }
    };
    seen.lock().unwrap().push(Request {
        method,
        path,
        query,
        headers,
        body: String::from_utf8(body).unwrap(),
    });
    let (status, body) = answer;
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Canned\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}
