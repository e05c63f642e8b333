//! Central's TLS: its own certificate authority, made on first start, or
//! the operator's certificate files.
//!
//! A province rarely has a public certificate for the address sensors
//! reach, and sensors must not trust whatever answers on that address. So
//! by default (`server.tls = "auto"`) central makes a CA and a server
//! certificate signed by it in `data_dir/tls/` (keys mode 0600) the first
//! time it starts, and reissues the server certificate when
//! `server.tls_names` changes or it nears its end. A sensor pins that CA
//! when it enrols (`canhgac sensor enroll --ca-sha256 …`, the fingerprint
//! printed by `canhgac admin sensor add`) and trusts nothing else after.
//! With `tls = "files"` central serves the given certificate chain and key
//! (the CA sensors pin is then the last certificate of the chain). Only
//! rustls with the ring provider: no OpenSSL.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// Errors making or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Cert(String),
}

/// What central serves with, and the CA sensors pin.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// Server certificate first, then its issuers, PEM.
    pub chain_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
    /// The certificate sensors pin, PEM.
    pub ca_pem: String,
    /// SHA-256 of the pinned certificate's DER, lower-case hex.
    pub ca_sha256: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn cert_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Cert(e.to_string())
}

/// SHA-256 of the first certificate in `pem`, lower-case hex.
pub fn fingerprint(pem: &str) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()?;
    Some(hex::encode(Sha256::digest(der.as_ref())))
}

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// The names a generated server certificate covers: `extra` plus
/// localhost, the loopback addresses and this machine's host name.
pub fn default_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    for n in extra {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "canhgac central CA");
    dn.push(DnType::OrganizationName, "canhgac");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ((y0, m0, d0), (y1, m1, d1)) = (ymd(-1), ymd(3650));
    p.not_before = rcgen::date_time_ymd(y0, m0, d0);
    p.not_after = rcgen::date_time_ymd(y1, m1, d1);
    p
}

/// Year, month and day `days` from today (UTC).
fn ymd(days: i64) -> (i32, u8, u8) {
    use chrono::Datelike;
    let d = chrono::Utc::now() + chrono::Duration::days(days);
    (d.year(), d.month() as u8, d.day() as u8)
}

fn server_params(names: &[String]) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "canhgac".into()),
    );
    p.distinguished_name = dn;
    for n in names {
        let san = match n.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                n.clone()
                    .try_into()
                    .map_err(|e| TlsError::Cert(format!("server.tls_names: `{n}`: {e}")))?,
            ),
        };
        p.subject_alt_names.push(san);
    }
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let ((y0, m0, d0), (y1, m1, d1)) = (ymd(-1), ymd(825));
    p.not_before = rcgen::date_time_ymd(y0, m0, d0);
    p.not_after = rcgen::date_time_ymd(y1, m1, d1);
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

/// Central's own CA and server certificate in `dir`, made or reissued as
/// the module doc says.
///
/// # Errors
/// Files that cannot be read or written; a name that cannot be put in a
/// certificate.
pub fn ensure_own(dir: &Path, names: &[String]) -> Result<TlsMaterial, TlsError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let (srv_crt, srv_key) = (dir.join("server.crt"), dir.join("server.key"));
    let names_file = dir.join("server.names");
    if !ca_crt.exists() || !ca_key.exists() {
        let key = KeyPair::generate().map_err(cert_err)?;
        let cert = ca_params().self_signed(&key).map_err(cert_err)?;
        write_private(&ca_key, &key.serialize_pem())?;
        std::fs::write(&ca_crt, cert.pem()).map_err(io(&ca_crt))?;
        let _ = std::fs::remove_file(&srv_crt);
        tracing::info!(dir = %dir.display(), "made central's own certificate authority");
    }
    let ca_pem = read(&ca_crt)?;
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_file).unwrap_or_default();
    let fresh_enough = std::fs::metadata(&srv_crt)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 700 * 86_400);
    if current != wanted || !srv_crt.exists() || !srv_key.exists() || !fresh_enough {
        let ca_key_pair = KeyPair::from_pem(&read(&ca_key)?).map_err(cert_err)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key_pair).map_err(cert_err)?;
        let key = KeyPair::generate().map_err(cert_err)?;
        let cert = server_params(names)?
            .signed_by(&key, &issuer)
            .map_err(cert_err)?;
        write_private(&srv_key, &key.serialize_pem())?;
        std::fs::write(&srv_crt, cert.pem()).map_err(io(&srv_crt))?;
        std::fs::write(&names_file, &wanted).map_err(io(&names_file))?;
        tracing::info!(names = ?names, "issued central's server certificate");
    }
    let chain_pem = format!("{}{}", read(&srv_crt)?, ca_pem);
    let ca_sha256 = fingerprint(&ca_pem)
        .ok_or_else(|| TlsError::Cert(format!("{}: no certificate", ca_crt.display())))?;
    Ok(TlsMaterial {
        chain_pem,
        key_pem: read(&srv_key)?,
        ca_pem,
        ca_sha256,
    })
}

/// The operator's certificate chain and key.
///
/// # Errors
/// Unreadable files, or a chain with no certificate.
pub fn from_files(chain: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let chain_pem = read(chain)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    let Some(last) = certs.last() else {
        return Err(TlsError::Cert(format!(
            "{}: no PEM certificate found",
            chain.display()
        )));
    };
    let ca_pem = pem_of(last);
    Ok(TlsMaterial {
        key_pem: read(key)?,
        ca_sha256: hex::encode(Sha256::digest(last.as_ref())),
        ca_pem,
        chain_pem,
    })
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// Installs rustls's ring provider as the process default (once).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The axum-server configuration for `m`.
///
/// # Errors
/// A key or chain rustls refuses.
pub async fn server_config(
    m: &TlsMaterial,
) -> std::io::Result<axum_server::tls_rustls::RustlsConfig> {
    install_provider();
    axum_server::tls_rustls::RustlsConfig::from_pem(
        m.chain_pem.clone().into_bytes(),
        m.key_pem.clone().into_bytes(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ca_is_made_once_and_server_cert_follows_names() {
        let d = tempfile::tempdir().unwrap();
        let a = ensure_own(d.path(), &default_names(&[])).unwrap();
        let b = ensure_own(d.path(), &default_names(&[])).unwrap();
        assert_eq!(a.ca_sha256, b.ca_sha256);
        assert_eq!(a.chain_pem, b.chain_pem);
        let c = ensure_own(d.path(), &default_names(&["soc.example".into()])).unwrap();
        assert_eq!(a.ca_sha256, c.ca_sha256, "the CA stays");
        assert_ne!(
            a.chain_pem, c.chain_pem,
            "the server certificate is reissued"
        );
        assert_eq!(a.ca_sha256.len(), 64);
        let key = std::fs::metadata(d.path().join("ca.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn operator_chain_pins_its_last_certificate() {
        let d = tempfile::tempdir().unwrap();
        let own = ensure_own(d.path(), &default_names(&[])).unwrap();
        let chain = d.path().join("chain.pem");
        std::fs::write(&chain, &own.chain_pem).unwrap();
        let m = from_files(&chain, &d.path().join("server.key")).unwrap();
        assert_eq!(m.ca_sha256, own.ca_sha256);
        assert_eq!(
            fingerprint(&m.ca_pem).as_deref(),
            Some(own.ca_sha256.as_str())
        );
        let empty = d.path().join("empty.pem");
        std::fs::write(&empty, "nothing").unwrap();
        assert!(from_files(&empty, &d.path().join("server.key")).is_err());
    }
}
