//! SSH: the identification banner of each side (`SSH-2.0-OpenSSH_8.9`),
//! which is all an IDS sees in clear. Rules use `ssh.proto` (`2.0`) and
//! `ssh.software` (`OpenSSH_8.9`); EVE logs both sides.

use serde_json::{Map, Value, json};

/// Longest banner line kept (RFC 4253 allows 255).
const MAX_LINE: usize = 255;

/// One side's banner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Banner {
    pub proto: Vec<u8>,
    pub software: Vec<u8>,
}

/// Banner parser for both directions (`[to_server, to_client]`).
#[derive(Debug, Default)]
pub struct SshState {
    buf: [Vec<u8>; 2],
    pub banners: [Option<Banner>; 2],
    /// Lines that were not a banner (servers may send text first).
    pub invalid: u64,
}

impl SshState {
    /// Whether data starts like an SSH banner.
    pub fn looks_like_ssh(data: &[u8]) -> bool {
        data.starts_with(b"SSH-")
    }

    /// Feeds bytes of one direction.
    pub fn feed(&mut self, to_server: bool, data: &[u8]) {
        let d = usize::from(!to_server);
        if self.banners[d].is_some() {
            return;
        }
        for &b in data {
            if b == b'\n' {
                let line = std::mem::take(&mut self.buf[d]);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                match parse_banner(line) {
                    Some(banner) => {
                        self.banners[d] = Some(banner);
                        return;
                    }
                    None => self.invalid += 1,
                }
            } else if self.buf[d].len() < MAX_LINE {
                self.buf[d].push(b);
            }
        }
    }

    /// The EVE `ssh` object: `{"client": {...}, "server": {...}}`.
    pub fn eve(&self) -> Value {
        let mut m = Map::new();
        for (name, b) in [("client", &self.banners[0]), ("server", &self.banners[1])] {
            if let Some(b) = b {
                m.insert(
                    name.into(),
                    json!({
                        "proto_version": String::from_utf8_lossy(&b.proto),
                        "software_version": String::from_utf8_lossy(&b.software),
                    }),
                );
            }
        }
        Value::Object(m)
    }
}

fn parse_banner(line: &[u8]) -> Option<Banner> {
    let rest = line.strip_prefix(b"SSH-")?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let proto = rest[..dash].to_vec();
    let sw = &rest[dash + 1..];
    let end = sw.iter().position(|&b| b == b' ').unwrap_or(sw.len());
    Some(Banner {
        proto,
        software: sw[..end].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_split_across_segments() {
        let mut s = SshState::default();
        s.feed(true, b"SSH-2.0-Open");
        s.feed(true, b"SSH_8.9p1 Ubuntu-3\r\n");
        s.feed(false, b"welcome\r\nSSH-1.99-dropbear\r\n");
        let c = s.banners[0].clone().unwrap();
        assert_eq!(c.proto, b"2.0");
        assert_eq!(c.software, b"OpenSSH_8.9p1");
        assert_eq!(s.banners[1].clone().unwrap().proto, b"1.99");
        assert_eq!(s.invalid, 1);
        assert_eq!(s.eve()["server"]["software_version"], "dropbear");
    }
}
