//! The admin port: `GET /metrics` (Prometheus) and `GET /healthz`.

use crate::clock;
use crate::relay::Relay;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves the admin endpoints until the process ends.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let n = stream.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..n]);
            let mut words = head.split_whitespace();
            let method = words.next().unwrap_or("");
            let path = words.next().unwrap_or("");
            if path.starts_with("/queue") {
                let (status, body) = queue(&relay, method, path).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                return;
            }
            let (status, content_type, body) = match path {
                "/metrics" => (
                    "200 OK",
                    "text/plain; version=0.0.4",
                    relay.metrics.render(clock::now_secs()),
                ),
                "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Lines `queue list` prints at most.
const MAX_LISTED: usize = 1000;

/// The queue operations of `tenantry-relay queue`.
async fn queue(relay: &Arc<Relay>, method: &str, path: &str) -> (&'static str, String) {
    let relay = relay.clone();
    let (method, path) = (method.to_string(), path.to_string());
    let answer = tokio::task::spawn_blocking(move || {
        let now = clock::now_secs();
        let q = &relay.queue;
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let valid = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["queue"]) => {
                let ids = q.ids();
                let mut out = format!("{} messages\n", ids.len());
                for id in ids.iter().take(MAX_LISTED) {
                    let Ok(e) = q.load(id) else { continue };
                    let pending: Vec<&str> = e
                        .recipients
                        .iter()
                        .filter(|r| r.status == crate::queue::Status::Pending)
                        .map(|r| r.address.as_str())
                        .collect();
                    let last = e
                        .recipients
                        .iter()
                        .find_map(|r| r.last_reply.as_deref())
                        .unwrap_or("-");
                    out.push_str(&format!(
                        "{id}\t{}s\t<{}>\t{}\t{}\n",
                        now - e.queued_at,
                        e.from,
                        pending.join(","),
                        last
                    ));
                }
                if ids.len() > MAX_LISTED {
                    out.push_str(&format!("... and {} more\n", ids.len() - MAX_LISTED));
                }
                ("200 OK", out)
            }
            ("GET", ["queue", id]) if valid(id) => match q.load(id) {
                Ok(e) => (
                    "200 OK",
                    serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
                ),
                Err(_) => ("404 Not Found", format!("no queued message {id}\n")),
            },
            ("POST", ["queue", id, "retry"]) if valid(id) => match q.retry_now(id, now) {
                Ok(_) => ("200 OK", format!("{id} is due now\n")),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => (
                    "409 Conflict",
                    format!("{id}: {e}; try again in a moment\n"),
                ),
                Err(_) => ("404 Not Found", format!("no queued message {id}\n")),
            },
            ("DELETE", ["queue", id]) if valid(id) => match q.load(id) {
                Ok(_) => match q.remove(id) {
                    Ok(()) => {
                        tracing::warn!(%id, "queued message deleted by an operator");
                        ("200 OK", format!("{id} deleted\n"))
                    }
                    Err(e) => ("500 Internal Server Error", format!("deleting {id}: {e}\n")),
                },
                Err(_) => ("404 Not Found", format!("no queued message {id}\n")),
            },
            _ => ("404 Not Found", "unknown queue operation\n".to_string()),
        }
    })
    .await;
    answer.unwrap_or(("500 Internal Server Error", "queue task failed\n".into()))
}
