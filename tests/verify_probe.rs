//! The verify step's real HTTP prober against a server on the loopback interface: redirects are
//! reported, not followed; only Edge Optimize's headers are kept; a probe that gets no answer
//! ends at its time limit.

use std::time::{Duration, Instant};

use cdn_onboard::routing::verify::{HttpProber, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `response` to every connection; `None` accepts and never answers.
async fn serve(response: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                match response {
                    Some(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    format!("http://{address}/")
}

#[tokio::test]
async fn redirects_are_reported_with_their_target_and_not_followed() {
    let url = serve(Some(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://www.example.com/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ))
    .await;
    let probe = HttpProber::new()
        .probe(&url, "chatgpt-user", Duration::from_secs(5))
        .await;
    assert_eq!(probe.status, 301);
    assert_eq!(probe.location.as_deref(), Some("https://www.example.com/"));
}

#[tokio::test]
async fn only_edge_optimize_headers_are_kept() {
    let url = serve(Some(
        "HTTP/1.1 200 OK\r\nx-edgeoptimize-request-id: r-42\r\nSet-Cookie: session=secret\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    ))
    .await;
    let probe = HttpProber::new()
        .probe(&url, "chatgpt-user", Duration::from_secs(5))
        .await;
    assert_eq!(probe.status, 200);
    assert_eq!(
        probe
            .headers
            .get("x-edgeoptimize-request-id")
            .map(String::as_str),
        Some("r-42")
    );
    assert_eq!(probe.headers.len(), 1, "{:?}", probe.headers);
    assert!(probe.location.is_none());
}

#[tokio::test]
async fn a_silent_server_ends_the_probe_at_its_limit() {
    let url = serve(None).await;
    let started = Instant::now();
    let probe = HttpProber::new()
        .probe(&url, "Mozilla/5.0", Duration::from_millis(500))
        .await;
    assert!(probe.timed_out, "{probe:?}");
    assert_eq!(probe.status, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_host_is_status_zero_not_an_error() {
    let probe = HttpProber::new()
        .probe("http://127.0.0.1:9/", "Mozilla/5.0", Duration::from_secs(2))
        .await;
    assert_eq!(probe.status, 0);
}
