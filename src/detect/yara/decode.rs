//! Decoding before scanning: what a rule looks for is often wrapped —
//! a web shell in a ZIP upload, a dropper gzip-compressed, an attachment in
//! base64. Scanned raw, none of these match (measured on the public rule
//! sets); so each file is also unwrapped, a layer at a time, and every layer
//! is scanned.
//!
//! Layers: gzip, ZIP members (stored or deflated, read from their local
//! headers), the parts of a mail message saved as a file (MIME, as in
//! traffic), and long base64 runs in other text (`FromBase64String` blobs,
//! `-enc` arguments).
//! Everything is bounded: depth, number of members, bytes produced, and the
//! expansion ratio — a decompression bomb is stopped and counted, never
//! expanded.

use std::io::Read;

/// Limits of unwrapping.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_depth: u8,
    pub max_members: usize,
    /// Bytes produced in all, per file.
    pub max_total: usize,
    /// Largest output / input ratio accepted for one layer.
    pub max_ratio: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: 3,
            max_members: 256,
            max_total: 64 << 20,
            max_ratio: 200,
        }
    }
}

/// Counters of unwrapping.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    pub layers: u64,
    pub bombs: u64,
    pub errors: u64,
}

/// One unwrapped layer: a name (`archive.zip!shell.php`), how it was
/// unwrapped, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub name: String,
    pub how: &'static str,
    pub data: Vec<u8>,
}

/// Unwraps `data` (named `name`) into `out`, recursively within limits.
pub fn derive(
    data: &[u8],
    name: &str,
    limits: &DecodeLimits,
    out: &mut Vec<Derived>,
    stats: &mut DecodeStats,
) {
    let mut budget = limits.max_total;
    walk(data, name, limits, 0, &mut budget, out, stats);
}

fn walk(
    data: &[u8],
    name: &str,
    limits: &DecodeLimits,
    depth: u8,
    budget: &mut usize,
    out: &mut Vec<Derived>,
    stats: &mut DecodeStats,
) {
    if depth >= limits.max_depth || out.len() >= limits.max_members {
        return;
    }
    let mut found: Vec<Derived> = Vec::new();
    if data.starts_with(&[0x1f, 0x8b]) {
        let cap = (data.len().saturating_mul(limits.max_ratio)).min(*budget);
        match inflate(flate2::read::GzDecoder::new(data), cap) {
            Inflated::Ok(v) => found.push(Derived {
                name: format!("{name}!gunzip"),
                how: "gzip",
                data: v,
            }),
            Inflated::Bomb => stats.bombs += 1,
            Inflated::Err => stats.errors += 1,
        }
    } else if data.starts_with(b"PK\x03\x04") {
        zip_members(data, name, limits, budget, &mut found, stats);
    } else if looks_like_mail(data) {
        mail_parts(data, name, limits, *budget, &mut found);
    } else if !data.iter().take(4096).any(|&b| b == 0) {
        // base64 lives in text (mail, scripts); binaries are skipped
        base64_runs(data, name, &mut found);
    }
    for d in found {
        if out.len() >= limits.max_members || d.data.len() > *budget {
            stats.bombs += u64::from(d.data.len() > *budget);
            break;
        }
        *budget -= d.data.len();
        stats.layers += 1;
        // unwrap the layer in place: its own layers follow it in `out`
        let idx = out.len();
        out.push(d);
        let (data, n) = (std::mem::take(&mut out[idx].data), out[idx].name.clone());
        walk(&data, &n, limits, depth + 1, budget, out, stats);
        out[idx].data = data;
    }
}

/// A mail message saved as a file (`.eml`, a mailbox export): header lines
/// first, and MIME headers near the top.
fn looks_like_mail(data: &[u8]) -> bool {
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(colon) = first.iter().position(|&b| b == b':') else {
        return false;
    };
    if colon == 0
        || !first[..colon]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    let head = data[..data.len().min(8192)].to_ascii_lowercase();
    memchr::memmem::find(&head, b"mime-version:").is_some()
        || memchr::memmem::find(&head, b"content-transfer-encoding:").is_some()
}

/// The decoded parts of a mail message (attachments, and any part that was
/// base64 or quoted-printable), named `mail.eml!file.name` (or `!part#n`).
fn mail_parts(
    data: &[u8],
    name: &str,
    limits: &DecodeLimits,
    budget: usize,
    out: &mut Vec<Derived>,
) {
    let ml = crate::applayer::mime::MimeLimits {
        max_parts: limits.max_members,
        max_part_size: budget,
        ..Default::default()
    };
    let msg = crate::applayer::mime::parse_message(data, &ml);
    for (i, part) in msg.parts.into_iter().enumerate() {
        let encoded = matches!(part.encoding.as_str(), "base64" | "quoted-printable");
        if !(part.attachment || encoded) || part.data.is_empty() {
            continue;
        }
        let member = match part.filename {
            Some(f) if !f.is_empty() => f,
            _ => format!("part#{}", i + 1),
        };
        out.push(Derived {
            name: format!("{name}!{member}"),
            how: "mime",
            data: part.data,
        });
    }
}

enum Inflated {
    Ok(Vec<u8>),
    Bomb,
    Err,
}

fn inflate<R: Read>(r: R, cap: usize) -> Inflated {
    let mut v = Vec::new();
    match r.take(cap as u64 + 1).read_to_end(&mut v) {
        Ok(_) if v.len() > cap => Inflated::Bomb,
        Ok(_) => Inflated::Ok(v),
        Err(_) => Inflated::Err,
    }
}

/// Members of a ZIP archive, read from the local file headers.
fn zip_members(
    data: &[u8],
    name: &str,
    limits: &DecodeLimits,
    budget: &mut usize,
    out: &mut Vec<Derived>,
    stats: &mut DecodeStats,
) {
    let u16at = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes([
            *data.get(i)?,
            *data.get(i + 1)?,
        ])))
    };
    let u32at = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes([
            *data.get(i)?,
            *data.get(i + 1)?,
            *data.get(i + 2)?,
            *data.get(i + 3)?,
        ]) as usize)
    };
    let mut i = 0usize;
    while data.get(i..i + 4) == Some(b"PK\x03\x04") && out.len() < limits.max_members {
        let (Some(flags), Some(method), Some(csize), Some(usize_), Some(nlen), Some(xlen)) = (
            u16at(i + 6),
            u16at(i + 8),
            u32at(i + 18),
            u32at(i + 22),
            u16at(i + 26),
            u16at(i + 28),
        ) else {
            stats.errors += 1;
            return;
        };
        let name_start = i + 30;
        let Some(member) = data.get(name_start..name_start + nlen) else {
            stats.errors += 1;
            return;
        };
        let member = String::from_utf8_lossy(member).into_owned();
        let body_start = name_start + nlen + xlen;
        if flags & 0x08 != 0 && csize == 0 {
            // sizes only in a trailing descriptor: not followed here
            stats.errors += 1;
            return;
        }
        let Some(body) = data.get(body_start..body_start + csize) else {
            stats.errors += 1;
            return;
        };
        if !member.ends_with('/') {
            let cap = usize_
                .min(csize.saturating_mul(limits.max_ratio).max(csize))
                .min(*budget);
            let got = match method {
                0 => Inflated::Ok(body.to_vec()),
                8 => inflate(flate2::read::DeflateDecoder::new(body), cap),
                _ => Inflated::Err,
            };
            match got {
                Inflated::Ok(v) => out.push(Derived {
                    name: format!("{name}!{member}"),
                    how: "zip",
                    data: v,
                }),
                Inflated::Bomb => stats.bombs += 1,
                Inflated::Err => stats.errors += 1,
            }
            if usize_ > cap && method == 8 {
                stats.bombs += 1;
            }
        }
        i = body_start + csize;
    }
}

/// Base64 alphabet value of each byte; `LINE` for CR and LF, `NO` for the
/// rest.
const LINE: u8 = 64;
const NO: u8 = 255;
static B64: [u8; 256] = {
    let mut t = [NO; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'\r' as usize] = LINE;
    t[b'\n' as usize] = LINE;
    t
};

/// Decodes runs of at least 64 base64 characters (line breaks allowed).
/// Text is mostly short words: windows that cannot hold a run are skipped
/// from their end, so most bytes are never looked at.
fn base64_runs(data: &[u8], name: &str, out: &mut Vec<Derived>) {
    let mut i = 0;
    let mut n = 0;
    while i + 64 <= data.len() && n < 16 {
        // a long enough run spans 64 bytes with no byte outside the
        // alphabet: look at the end of the window first and jump past the
        // last such byte (in text, a space is never far)
        let window = &data[i..i + 64];
        if let Some(k) = window.iter().rposition(|&b| B64[usize::from(b)] == NO) {
            i += k + 1;
            continue;
        }
        let mut start = i;
        let (mut count, mut line_len) = (0usize, 0usize);
        while let Some(&b) = data.get(i) {
            match B64[usize::from(b)] {
                LINE => {
                    // a short first line is a word before the data (the
                    // "base64" of a MIME header), not part of it
                    if count == line_len && line_len < 40 {
                        count = 0;
                        start = i + 1;
                    }
                    line_len = 0;
                }
                NO => break,
                _ => {
                    count += 1;
                    line_len += 1;
                }
            }
            i += 1;
        }
        let end = i;
        // padding ends the run
        while data.get(i) == Some(&b'=') {
            i += 1;
        }
        if count < 64 {
            continue;
        }
        // the run holds only alphabet and line breaks: the MIME decoder's
        // lenient pass decodes it as it is
        let mut v = Vec::new();
        crate::applayer::mime::decode_base64_lenient(&data[start..end], &mut v, usize::MAX);
        n += 1;
        out.push(Derived {
            name: format!("{name}!base64#{n}"),
            how: "base64",
            data: v,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn b64(data: &[u8]) -> Vec<u8> {
        crate::detect::sigma::matcher::base64_of(data).into_bytes()
    }

    fn stored_zip(member: &str, body: &[u8]) -> Vec<u8> {
        let mut z = b"PK\x03\x04".to_vec();
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&(body.len() as u32).to_le_bytes());
        z.extend_from_slice(&(body.len() as u32).to_le_bytes());
        z.extend_from_slice(&(member.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(member.as_bytes());
        z.extend_from_slice(body);
        z.extend_from_slice(b"PK\x01\x02");
        z
    }

    fn has_eicar(d: &[Derived]) -> Option<String> {
        d.iter()
            .find(|x| memchr::memmem::find(&x.data, EICAR).is_some())
            .map(|x| x.name.clone())
    }

    #[test]
    fn zip_in_gzip_and_base64_mime_are_unwrapped() {
        let zip = stored_zip("eicar.com", EICAR);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&zip).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        let mut st = DecodeStats::default();
        derive(&gz, "a.gz", &DecodeLimits::default(), &mut out, &mut st);
        assert!(
            out.iter()
                .any(|d| d.name == "a.gz!gunzip!eicar.com" && d.data == EICAR && d.how == "zip"),
            "{:?}",
            out.iter().map(|d| &d.name).collect::<Vec<_>>()
        );

        let mut mail = b"Content-Transfer-Encoding: base64\r\n\r\n".to_vec();
        for line in b64(EICAR).chunks(40) {
            mail.extend_from_slice(line);
            mail.extend_from_slice(b"\r\n");
        }
        let mut out = Vec::new();
        derive(&mail, "m.eml", &DecodeLimits::default(), &mut out, &mut st);
        // a single-part message: its base64 body is the layer
        assert_eq!(has_eicar(&out).as_deref(), Some("m.eml!part#1"));

        // base64 in a script (no mail headers): the run is decoded
        let mut script = b"$x = [Convert]::FromBase64String(\"".to_vec();
        script.extend(b64(EICAR));
        script.extend_from_slice(b"\")\n");
        let mut out = Vec::new();
        derive(
            &script,
            "s.ps1",
            &DecodeLimits::default(),
            &mut out,
            &mut st,
        );
        assert_eq!(has_eicar(&out).as_deref(), Some("s.ps1!base64#1"));
    }

    #[test]
    fn a_saved_mail_gives_its_attachments() {
        let mut mail = b"From: a@example.invalid\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--B\r\n\
Content-Disposition: attachment; filename=\"e.com\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        mail.extend(b64(EICAR));
        mail.extend_from_slice(b"\r\n--B--\r\n");
        let mut out = Vec::new();
        let mut st = DecodeStats::default();
        derive(&mail, "m.eml", &DecodeLimits::default(), &mut out, &mut st);
        assert_eq!(
            out.len(),
            1,
            "{:?}",
            out.iter().map(|d| &d.name).collect::<Vec<_>>()
        );
        assert_eq!((out[0].name.as_str(), out[0].how), ("m.eml!e.com", "mime"));
        assert_eq!(out[0].data, EICAR);
    }

    #[test]
    fn bombs_are_stopped_and_counted() {
        let zeros = vec![0u8; 4 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() * 200 < zeros.len(), "a real bomb ratio");
        let mut out = Vec::new();
        let mut st = DecodeStats::default();
        derive(&gz, "b.gz", &DecodeLimits::default(), &mut out, &mut st);
        assert!(out.is_empty());
        assert_eq!(st.bombs, 1);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 7;
        for len in 0..300 {
            let mut v = b"PK\x03\x04".to_vec();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                v.push(x as u8);
            }
            let mut out = Vec::new();
            let mut st = DecodeStats::default();
            derive(&v, "g", &DecodeLimits::default(), &mut out, &mut st);
            v[0] = 0x1f;
            v[1] = 0x8b;
            derive(&v, "g", &DecodeLimits::default(), &mut out, &mut st);
        }
    }
}
