//! Syslog over the network: UDP datagrams and TCP streams (RFC 3164 and
//! RFC 5424 messages alike; the header is parsed later, by
//! [`super::parse`]).
//!
//! A TCP stream is framed either by octet counting (RFC 6587 §3.4.1:
//! `LEN SP MSG`, what rsyslog and syslog-ng send with RFC 5424) or by a
//! newline (or NUL) after each message; the framing is recognised per
//! message, as senders may switch. Messages are bounded: a longer one is cut
//! at the limit, flagged, and the rest of it is skipped, so one broken
//! sender cannot make the sensor buffer without end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// A message received over the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    /// `udp:ADDR` or `tcp:ADDR` of the sender.
    pub source: String,
    pub text: String,
    pub truncated: bool,
}

/// Counters of the listeners.
#[derive(Debug, Default)]
pub struct SyslogCounters {
    pub messages: AtomicU64,
    pub truncated: AtomicU64,
    /// Messages that found the queue full and were dropped.
    pub dropped: AtomicU64,
    pub connections: AtomicU64,
}

/// Splits a TCP byte stream into messages.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    max: usize,
    /// Bytes of an over-long message still to skip (octet-counted), or
    /// `usize::MAX` to skip to the next newline.
    skip: usize,
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            max: max.max(64),
            skip: 0,
        }
    }

    /// Feeds bytes; returns the messages completed, each with its
    /// truncation flag.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        loop {
            if self.skip == usize::MAX {
                match data.iter().position(|&b| b == b'\n' || b == 0) {
                    Some(i) => {
                        self.skip = 0;
                        data = &data[i + 1..];
                    }
                    None => return out,
                }
            } else if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                if self.skip > 0 {
                    return out;
                }
            }
            self.buf.extend_from_slice(data);
            data = &[];
            // leading line ends between messages
            let lead = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r' || b == 0)
                .count();
            self.buf.drain(..lead);
            if self.buf.is_empty() {
                return out;
            }
            // octet counting: digits, a space, then exactly that many bytes
            let digits = self.buf.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 && digits <= 9 && self.buf.get(digits) == Some(&b' ') {
                let len: usize = std::str::from_utf8(&self.buf[..digits])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let start = digits + 1;
                if len > self.max {
                    let have = self.buf.len() - start;
                    if have < self.max {
                        return out;
                    }
                    out.push((self.buf[start..start + self.max].to_vec(), true));
                    let consumed = (start + len).min(self.buf.len());
                    self.skip = start + len - consumed;
                    let rest = self.buf.split_off(consumed);
                    self.buf = rest;
                    data = &[];
                    if self.skip > 0 {
                        self.buf.clear();
                        return out;
                    }
                    continue;
                }
                if self.buf.len() < start + len {
                    return out;
                }
                let mut m = self.buf[start..start + len].to_vec();
                while matches!(m.last(), Some(b'\r' | b'\n')) {
                    m.pop();
                }
                out.push((m, false));
                self.buf.drain(..start + len);
                continue;
            }
            // newline (or NUL) framing
            match self.buf.iter().position(|&b| b == b'\n' || b == 0) {
                Some(i) => {
                    let mut m: Vec<u8> = self.buf.drain(..=i).collect();
                    m.pop();
                    if m.last() == Some(&b'\r') {
                        m.pop();
                    }
                    let cut = m.len() > self.max;
                    m.truncate(self.max);
                    out.push((m, cut));
                }
                None if self.buf.len() > self.max => {
                    let m: Vec<u8> = self.buf.drain(..self.max).collect();
                    out.push((m, true));
                    self.buf.clear();
                    self.skip = usize::MAX;
                    return out;
                }
                None => return out,
            }
        }
    }
}

fn send(
    tx: &mpsc::Sender<SyslogMessage>,
    counters: &SyslogCounters,
    source: String,
    bytes: &[u8],
    truncated: bool,
) {
    let text = String::from_utf8_lossy(bytes).trim_end().to_string();
    if text.is_empty() {
        return;
    }
    counters.messages.fetch_add(1, Ordering::Relaxed);
    counters
        .truncated
        .fetch_add(u64::from(truncated), Ordering::Relaxed);
    let msg = SyslogMessage {
        source,
        text,
        truncated,
    };
    if tx.try_send(msg).is_err() {
        let n = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(dropped = n, "syslog queue full: dropping messages");
        }
    }
}

/// Receives syslog datagrams on `socket` until the channel closes.
pub async fn serve_udp(
    socket: tokio::net::UdpSocket,
    max: usize,
    tx: mpsc::Sender<SyslogMessage>,
    counters: Arc<SyslogCounters>,
) {
    let mut buf = vec![0u8; 65_536];
    while !tx.is_closed() {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let cut = n > max;
        send(
            &tx,
            &counters,
            format!("udp:{from}"),
            &buf[..n.min(max)],
            cut,
        );
    }
}

/// Accepts syslog TCP connections on `listener` until the channel closes.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    max: usize,
    tx: mpsc::Sender<SyslogMessage>,
    counters: Arc<SyslogCounters>,
) {
    while !tx.is_closed() {
        let Ok((mut stream, from)) = listener.accept().await else {
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let (tx, counters) = (tx.clone(), Arc::clone(&counters));
        tokio::spawn(async move {
            let source = format!("tcp:{from}");
            let mut framer = Framer::new(max);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        for (m, cut) in framer.push(&buf[..n]) {
                            send(&tx, &counters, source.clone(), &m, cut);
                        }
                    }
                }
            }
            // a last message without its newline
            for (m, cut) in framer.push(b"\n") {
                send(&tx, &counters, source.clone(), &m, cut);
            }
        });
    }
}

/// Binds a UDP and/or TCP listener.
///
/// # Errors
/// The address cannot be bound (in use, no permission for port 514).
pub async fn bind(
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
) -> std::io::Result<(
    Option<tokio::net::UdpSocket>,
    Option<tokio::net::TcpListener>,
)> {
    let u = match udp {
        Some(a) => Some(tokio::net::UdpSocket::bind(a).await?),
        None => None,
    };
    let t = match tcp {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await?),
        None => None,
    };
    Ok((u, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[(Vec<u8>, bool)]) -> Vec<String> {
        v.iter()
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    #[test]
    fn octet_counting_and_newlines_split_anywhere() {
        let stream = b"<13>Feb 10 23:21:05 gw a: one\n29 <13>1 - gw app - - - two two\r\n<13>Feb 10 23:21:05 gw a: three\n";
        let whole = texts(&Framer::new(1024).push(stream));
        assert_eq!(
            whole,
            [
                "<13>Feb 10 23:21:05 gw a: one",
                "<13>1 - gw app - - - two two",
                "<13>Feb 10 23:21:05 gw a: three"
            ]
        );
        for chunk in 1..stream.len() {
            let mut f = Framer::new(1024);
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                got.extend(f.push(c));
            }
            assert_eq!(texts(&got), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn long_messages_are_cut_flagged_and_the_rest_skipped() {
        let mut f = Framer::new(64);
        let mut s = "x".repeat(200).into_bytes();
        s.extend_from_slice(b"\nnext\n");
        let got = f.push(&s);
        assert_eq!(got.len(), 2);
        assert!(got[0].1 && got[0].0.len() == 64);
        assert_eq!(texts(&got)[1], "next");
        let mut f = Framer::new(64);
        let mut s = b"100 ".to_vec();
        s.extend(std::iter::repeat_n(b'y', 100));
        s.extend_from_slice(b"5 after");
        let mut got = Vec::new();
        for c in s.chunks(7) {
            got.extend(f.push(c));
        }
        assert_eq!(got.len(), 2);
        assert!(got[0].1);
        assert_eq!(texts(&got)[1], "after");
    }

    #[tokio::test]
    async fn udp_and_tcp_listeners_deliver_messages() {
        let (u, t) = bind(
            Some("127.0.0.1:0".parse().unwrap()),
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .await
        .unwrap();
        let (u, t) = (u.unwrap(), t.unwrap());
        let (ua, ta) = (u.local_addr().unwrap(), t.local_addr().unwrap());
        let (tx, mut rx) = mpsc::channel(16);
        let c = Arc::new(SyslogCounters::default());
        tokio::spawn(serve_udp(u, 1024, tx.clone(), Arc::clone(&c)));
        tokio::spawn(serve_tcp(t, 1024, tx, Arc::clone(&c)));
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(b"<38>Feb 10 23:21:05 gw sshd[1]: via udp", ua)
            .await
            .unwrap();
        let mut conn = tokio::net::TcpStream::connect(ta).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut conn, b"11 via tcp one<38>x\n")
            .await
            .unwrap();
        drop(conn);
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            got.push((m.source.split(':').next().unwrap_or("").to_string(), m.text));
        }
        got.sort();
        assert_eq!(
            got,
            [
                ("tcp".to_string(), "<38>x".to_string()),
                ("tcp".to_string(), "via tcp one".to_string()),
                (
                    "udp".to_string(),
                    "<38>Feb 10 23:21:05 gw sshd[1]: via udp".to_string()
                ),
            ]
        );
    }
}
