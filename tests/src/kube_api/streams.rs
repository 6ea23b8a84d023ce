//! The test API server's long-lived answers: watch streams (chunked JSON
//! lines) and the `exec` websocket.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use super::{status, FakeApi, Recorded};

impl FakeApi {
    /// The `exec` subresource: a websocket in the `v5.channel.k8s.io`
    /// protocol; once stdin is closed, the command runs for real, as a
    /// process of this machine in the pod's working folder (a pod here is
    /// a folder, not a container), and its output is sent back in frames.
    pub(super) fn exec(&self, mut stream: TcpStream, req: &Recorded, key: &str, command: &[String]) {
        use tungstenite::protocol::{Role, WebSocket};
        use tungstenite::Message;
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let (ns, pod) = (parts.get(3).copied().unwrap_or(""), parts.get(5).copied().unwrap_or(""));
        let exists = self
            .lock()
            .objects
            .iter()
            .any(|o| o["kind"] == "Pod" && o["metadata"]["name"] == pod && o["metadata"]["namespace"] == ns);
        if !exists {
            let (code, body) = status(404, "NotFound", &format!("pods \"{pod}\" not found"));
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let head = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut socket = WebSocket::from_raw_socket(stream, Role::Server, None);
        let mut stdin = Vec::new();
        let mut reading = req.query.get("stdin").is_some_and(|v| v == "true");
        while reading {
            match socket.read() {
                Ok(Message::Binary(bytes)) if bytes.first() == Some(&0) => stdin.extend_from_slice(&bytes[1..]),
                Ok(Message::Binary(bytes)) if bytes.as_ref() == [255, 0] => reading = false,
                Ok(Message::Close(_)) | Err(_) => reading = false,
                Ok(_) => {}
            }
        }
        let (stdout, stderr, code) = run(command, &self.pod_dir(ns, pod), stdin);
        let channel = |n: u8, bytes: &[u8]| {
            let mut frame = vec![n];
            frame.extend_from_slice(bytes);
            Message::binary(frame)
        };
        let status = if code == 0 {
            json!({"metadata": {}, "status": "Success"})
        } else {
            json!({"metadata": {}, "status": "Failure", "message": format!("command terminated with non-zero exit code: {code}"),
                   "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
        };
        // Output goes in frames of at most 32 KiB, as a kubelet streams it.
        let frames = stdout
            .chunks(32 << 10)
            .map(|c| channel(1, c))
            .chain(stderr.chunks(32 << 10).map(|c| channel(2, c)))
            .chain(std::iter::once(channel(3, status.to_string().as_bytes())));
        for message in frames {
            if socket.send(message).is_err() {
                return;
            }
        }
        let _ = socket.close(None);
        while socket.read().is_ok() {}
    }

    pub(super) fn watch(&self, writer: &mut TcpStream, req: &Recorded) {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        let next = {
            let mut state = self.lock();
            (!state.pending.is_empty()).then(|| state.pending.remove(0))
        };
        if let Some((event, obj)) = next {
            let (ns, name) = (
                obj["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            self.lock().objects.retain(|o| {
                !(o["metadata"]["name"] == json!(name)
                    && o["metadata"]["namespace"].as_str().unwrap_or("") == ns
                    && o["kind"] == obj["kind"])
            });
            let mut stored = self.insert(obj);
            if event == "DELETED" {
                let uid = stored["metadata"]["uid"].clone();
                self.lock().objects.retain(|o| o["metadata"]["uid"] != uid);
                let revision = self.lock().revision + 1;
                stored["metadata"]["resourceVersion"] = json!(revision.to_string());
            }
            let line = format!("{}\n", json!({"type": event, "object": stored}));
            let _ = write!(writer, "{:x}\r\n{line}\r\n", line.len());
            let _ = writer.flush();
        }
        // Hold the watch open like a real server, up to its timeout, so the
        // client does not spin re-watching.
        let secs = req.query.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(30u64).min(30);
        std::thread::sleep(Duration::from_secs(secs));
        let _ = writer.write_all(b"0\r\n\r\n");
    }

    // One route table, top to bottom, like the API's own: splitting it would
    // scatter what the server answers to which request.
}

/// Runs `command` for real in `dir` with `stdin`: (stdout, stderr, exit
/// code); a program that is not there exits 127 with the container
/// runtime's words.
// The test server's pods run what they are sent, as a kubelet would; the
// effects gate's rule is about hubops itself.
#[allow(clippy::disallowed_methods)]
fn run(command: &[String], dir: &std::path::Path, stdin: Vec<u8>) -> (Vec<u8>, Vec<u8>, i32) {
    use std::process::{Command, Stdio};
    let Some((program, args)) = command.split_first() else {
        return (Vec::new(), b"exec: no command given\n".to_vec(), 127);
    };
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        let said = format!("exec: \"{program}\": executable file not found in $PATH\n");
        return (Vec::new(), said.into_bytes(), 127);
    };
    let mut pipe = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(pipe) = pipe.as_mut() {
            let _ = pipe.write_all(&stdin);
        }
    });
    let out = child.wait_with_output();
    let _ = feeder.join();
    match out {
        Ok(out) => (out.stdout, out.stderr, out.status.code().unwrap_or(1)),
        Err(e) => (Vec::new(), e.to_string().into_bytes(), 1),
    }
}
