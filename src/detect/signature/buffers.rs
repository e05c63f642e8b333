//! The inspection buffers a rule can point its payload keywords at.
//!
//! Suricata calls them *sticky buffers* (`http.uri; content:"x";`) and,
//! in the older syntax, *content modifiers* (`content:"x"; http_uri;`).
//! Both spellings land on the same [`Buffer`]; the table below is the one
//! place that names them, says which direction of a connection fills them and
//! which application protocol they belong to, so the parser, the engine and
//! `rules check` all agree.

/// Which side of a connection fills a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    ToServer,
    ToClient,
    /// Request or response, whichever the rule's direction says.
    Either,
}

/// Application protocol a buffer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProto {
    Http,
    Tls,
    Dns,
    Ssh,
    Smtp,
    Ftp,
}

impl AppProto {
    /// The EVE `app_proto` name.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Dns => "dns",
            AppProto::Ssh => "ssh",
            AppProto::Smtp => "smtp",
            AppProto::Ftp => "ftp",
        }
    }

    /// Parses a protocol name as used in rule headers and
    /// `app-layer-protocol`.
    pub fn from_name(s: &str) -> Option<AppProto> {
        Some(match s {
            "http" | "http1" => AppProto::Http,
            "tls" | "ssl" => AppProto::Tls,
            "dns" => AppProto::Dns,
            "ssh" => AppProto::Ssh,
            "smtp" => AppProto::Smtp,
            "ftp" => AppProto::Ftp,
            _ => return None,
        })
    }
}

/// An inspection buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Buffer {
    /// Packet payload or reassembled stream (`pkt_data`, the default).
    Payload,
    HttpUri,
    HttpUriRaw,
    HttpMethod,
    HttpProtocol,
    HttpRequestLine,
    HttpResponseLine,
    HttpHost,
    HttpHostRaw,
    HttpUserAgent,
    HttpHeader,
    HttpRawHeader,
    HttpHeaderNames,
    HttpCookie,
    HttpRequestBody,
    HttpResponseBody,
    /// `file.data`: the HTTP body in the rule's direction (response by default).
    FileData,
    HttpStatCode,
    HttpStatMsg,
    HttpContentType,
    HttpContentLen,
    HttpConnection,
    HttpStart,
    HttpReferer,
    HttpLocation,
    HttpAccept,
    HttpAcceptEnc,
    HttpAcceptLang,
    HttpServer,
    DnsQuery,
    /// The DNS opcode as one byte (for the `dns.opcode` keyword).
    DnsOpcode,
    TlsSni,
    TlsCerts,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    SshProto,
    SshSoftware,
}

/// (name, buffer) for sticky-buffer keywords.
const STICKY: &[(&str, Buffer)] = &[
    ("pkt_data", Buffer::Payload),
    ("http.uri", Buffer::HttpUri),
    ("http.uri.raw", Buffer::HttpUriRaw),
    ("http.method", Buffer::HttpMethod),
    ("http.protocol", Buffer::HttpProtocol),
    ("http.request_line", Buffer::HttpRequestLine),
    ("http.response_line", Buffer::HttpResponseLine),
    ("http.host", Buffer::HttpHost),
    ("http.host.raw", Buffer::HttpHostRaw),
    ("http.user_agent", Buffer::HttpUserAgent),
    ("http.header", Buffer::HttpHeader),
    ("http.header.raw", Buffer::HttpRawHeader),
    ("http.raw_header", Buffer::HttpRawHeader),
    ("http.header_names", Buffer::HttpHeaderNames),
    ("http.cookie", Buffer::HttpCookie),
    ("http.request_body", Buffer::HttpRequestBody),
    ("http_client_body", Buffer::HttpRequestBody),
    ("http.response_body", Buffer::HttpResponseBody),
    ("file.data", Buffer::FileData),
    ("file_data", Buffer::FileData),
    ("http.stat_code", Buffer::HttpStatCode),
    ("http.stat_msg", Buffer::HttpStatMsg),
    ("http.content_type", Buffer::HttpContentType),
    ("http.content_len", Buffer::HttpContentLen),
    ("http.connection", Buffer::HttpConnection),
    ("http.start", Buffer::HttpStart),
    ("http.referer", Buffer::HttpReferer),
    ("http.location", Buffer::HttpLocation),
    ("http.accept", Buffer::HttpAccept),
    ("http.accept_enc", Buffer::HttpAcceptEnc),
    ("http.accept_lang", Buffer::HttpAcceptLang),
    ("http.server", Buffer::HttpServer),
    ("dns.query", Buffer::DnsQuery),
    ("dns_query", Buffer::DnsQuery),
    ("tls.sni", Buffer::TlsSni),
    ("tls_sni", Buffer::TlsSni),
    ("tls.certs", Buffer::TlsCerts),
    ("tls.cert_subject", Buffer::TlsCertSubject),
    ("tls_cert_subject", Buffer::TlsCertSubject),
    ("tls.cert_issuer", Buffer::TlsCertIssuer),
    ("tls_cert_issuer", Buffer::TlsCertIssuer),
    ("tls.cert_serial", Buffer::TlsCertSerial),
    ("tls_cert_serial", Buffer::TlsCertSerial),
    ("tls.cert_fingerprint", Buffer::TlsCertFingerprint),
    ("tls_cert_fingerprint", Buffer::TlsCertFingerprint),
    ("ja3.hash", Buffer::Ja3Hash),
    ("ja3_hash", Buffer::Ja3Hash),
    ("ja3.string", Buffer::Ja3String),
    ("ja3s.hash", Buffer::Ja3sHash),
    ("ja3s.string", Buffer::Ja3sString),
    ("ssh.proto", Buffer::SshProto),
    ("ssh_proto", Buffer::SshProto),
    ("ssh.software", Buffer::SshSoftware),
    ("ssh_software", Buffer::SshSoftware),
];

/// (name, buffer) for legacy content modifiers (`content:"x"; http_uri;`).
const MODIFIERS: &[(&str, Buffer)] = &[
    ("http_uri", Buffer::HttpUri),
    ("http_raw_uri", Buffer::HttpUriRaw),
    ("http_method", Buffer::HttpMethod),
    ("http_host", Buffer::HttpHost),
    ("http_raw_host", Buffer::HttpHostRaw),
    ("http_user_agent", Buffer::HttpUserAgent),
    ("http_header", Buffer::HttpHeader),
    ("http_raw_header", Buffer::HttpRawHeader),
    ("http_header_names", Buffer::HttpHeaderNames),
    ("http_cookie", Buffer::HttpCookie),
    ("http_client_body", Buffer::HttpRequestBody),
    ("http_server_body", Buffer::HttpResponseBody),
    ("http_stat_code", Buffer::HttpStatCode),
    ("http_stat_msg", Buffer::HttpStatMsg),
    ("http_content_type", Buffer::HttpContentType),
    ("http_content_len", Buffer::HttpContentLen),
    ("http_connection", Buffer::HttpConnection),
    ("http_start", Buffer::HttpStart),
    ("http_referer", Buffer::HttpReferer),
    ("http_location", Buffer::HttpLocation),
    ("http_accept", Buffer::HttpAccept),
    ("http_accept_enc", Buffer::HttpAcceptEnc),
    ("http_accept_lang", Buffer::HttpAcceptLang),
    ("http_server", Buffer::HttpServer),
    ("http_request_line", Buffer::HttpRequestLine),
    ("http_response_line", Buffer::HttpResponseLine),
    ("http_protocol", Buffer::HttpProtocol),
];

impl Buffer {
    /// The buffer a sticky-buffer keyword selects.
    pub fn sticky(name: &str) -> Option<Buffer> {
        STICKY.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// The buffer a legacy content modifier moves the previous content to.
    pub fn modifier(name: &str) -> Option<Buffer> {
        MODIFIERS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// The buffer a PCRE buffer flag selects (`/U`, `/H`, …).
    pub fn pcre_flag(flag: char) -> Option<Buffer> {
        Some(match flag {
            'U' => Buffer::HttpUri,
            'I' => Buffer::HttpUriRaw,
            'H' => Buffer::HttpHeader,
            'D' => Buffer::HttpRawHeader,
            'C' => Buffer::HttpCookie,
            'M' => Buffer::HttpMethod,
            'P' => Buffer::HttpRequestBody,
            'Q' => Buffer::FileData,
            'S' => Buffer::HttpStatCode,
            'Y' => Buffer::HttpStatMsg,
            'V' => Buffer::HttpUserAgent,
            'W' => Buffer::HttpHost,
            'Z' => Buffer::HttpHostRaw,
            _ => return None,
        })
    }

    /// Name used in diagnostics and `rules check`.
    pub fn name(self) -> &'static str {
        if self == Buffer::DnsOpcode {
            return "dns.opcode";
        }
        STICKY
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The protocol whose transactions fill this buffer; `None` for the
    /// packet/stream payload.
    pub fn app_proto(self) -> Option<AppProto> {
        use Buffer::*;
        match self {
            Payload => None,
            DnsQuery | DnsOpcode => Some(AppProto::Dns),
            TlsSni | TlsCerts | TlsCertSubject | TlsCertIssuer | TlsCertSerial
            | TlsCertFingerprint | Ja3Hash | Ja3String | Ja3sHash | Ja3sString => {
                Some(AppProto::Tls)
            }
            SshProto | SshSoftware => Some(AppProto::Ssh),
            _ => Some(AppProto::Http),
        }
    }

    /// Which side fills the buffer.
    pub fn side(self) -> Side {
        use Buffer::*;
        match self {
            HttpUri | HttpUriRaw | HttpMethod | HttpRequestLine | HttpHost | HttpHostRaw
            | HttpUserAgent | HttpCookie | HttpRequestBody | HttpReferer | HttpAccept
            | HttpAcceptEnc | HttpAcceptLang | DnsQuery | DnsOpcode | TlsSni | Ja3Hash
            | Ja3String => Side::ToServer,
            HttpResponseLine | HttpStatCode | HttpStatMsg | HttpResponseBody | HttpLocation
            | HttpServer | TlsCerts | TlsCertSubject | TlsCertIssuer | TlsCertSerial
            | TlsCertFingerprint | Ja3sHash | Ja3sString => Side::ToClient,
            Payload | HttpProtocol | HttpHeader | HttpRawHeader | HttpHeaderNames
            | HttpContentType | HttpContentLen | HttpConnection | HttpStart | FileData
            | SshProto | SshSoftware => Side::Either,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_and_legacy_names_agree() {
        assert_eq!(Buffer::sticky("http.uri"), Buffer::modifier("http_uri"));
        assert_eq!(Buffer::sticky("file_data"), Some(Buffer::FileData));
        assert_eq!(Buffer::pcre_flag('U'), Some(Buffer::HttpUri));
        assert_eq!(Buffer::sticky("http.nope"), None);
        assert_eq!(Buffer::HttpStatCode.side(), Side::ToClient);
        assert_eq!(Buffer::TlsSni.app_proto(), Some(AppProto::Tls));
    }
}
