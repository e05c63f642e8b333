//! Notifications: email (SMTP through `lettre` over rustls) and webhooks
//! (JSON over HTTPS), with recipients from configuration, never
//! hard-coded — who must be told changes (incident reporting moved to the
//! Ministry of Public Security in 2025), so it is an operator's setting.
//!
//! The SMTP password is read from a file (`password_file`), not the
//! configuration, so `central.toml` can be shown and shared.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[notify]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Outgoing mail; without it, mail actions fail with a clear reason.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Default address for `webhook` actions.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Who hears of escalated (serious) incidents and overdue items.
    #[serde(default)]
    pub escalation_to: Vec<String>,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// `none` (plain, for a relay on the same host), `starttls` or `tls`.
    #[serde(default = "default_security")]
    pub security: String,
    /// The sender, e.g. `canhgac <soc@example.gov.vn>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (one line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Give up on a send after this many seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_port() -> u16 {
    587
}
fn default_security() -> String {
    "starttls".into()
}
fn default_timeout() -> u64 {
    20
}

impl SmtpConfig {
    /// Checks the settings that can be checked without sending.
    ///
    /// # Errors
    /// What is wrong, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if !matches!(self.security.as_str(), "none" | "starttls" | "tls") {
            return Err(format!(
                "notify.smtp.security = {:?}: expected none, starttls or tls",
                self.security
            ));
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("notify.smtp.from = {:?}: {e}", self.from))?;
        Ok(())
    }
}

/// Sends one mail to `to`.
///
/// # Errors
/// Why it was not sent (no SMTP configured, a bad address, the server's answer).
pub async fn send_email(
    cfg: &NotifyConfig,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(), String> {
    send_email_with(cfg, to, subject, body, None).await
}

/// A file sent with a mail: name, content type, bytes.
pub type MailFile<'a> = (&'a str, &'a str, &'a [u8]);

/// Sends one mail to `to`, with a file attached when given.
///
/// # Errors
/// Why it was not sent.
pub async fn send_email_with(
    cfg: &NotifyConfig,
    to: &[String],
    subject: &str,
    body: &str,
    file: Option<MailFile<'_>>,
) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let smtp = cfg
        .smtp
        .as_ref()
        .ok_or("no [notify.smtp] in central.toml: mail cannot be sent")?;
    let from: lettre::message::Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("notify.smtp.from: {e}"))?;
    let mut b = Message::builder().from(from).subject(subject);
    for t in to {
        let mb: lettre::message::Mailbox =
            t.parse().map_err(|e| format!("recipient {t:?}: {e}"))?;
        b = b.to(mb);
    }
    let msg = match file {
        None => b
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_string()),
        Some((name, ct, bytes)) => {
            use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
            let ct = ContentType::parse(ct).unwrap_or(ContentType::TEXT_PLAIN);
            b.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(body.to_string()))
                    .singlepart(Attachment::new(name.to_string()).body(bytes.to_vec(), ct)),
            )
        }
    }
    .map_err(|e| format!("cannot build the mail: {e}"))?;
    let builder = match smtp.security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| format!("smtp {}: {e}", smtp.host))?,
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| format!("smtp {}: {e}", smtp.host))?,
        _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if let (Some(user), Some(pf)) = (&smtp.username, &smtp.password_file) {
        let pw = std::fs::read_to_string(pf)
            .map_err(|e| format!("notify.smtp.password_file {}: {e}", pf.display()))?;
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.clone(),
            pw.trim_end_matches(['\r', '\n']).to_string(),
        ));
    }
    let transport = builder.build();
    transport
        .send(msg)
        .await
        .map_err(|e| format!("smtp {}:{}: {e}", smtp.host, smtp.port))?;
    Ok(())
}

/// POSTs `body` as JSON to `url`; returns a summary with the status.
///
/// # Errors
/// The transport error or a non-2xx status.
pub async fn post_webhook(url: &str, body: &Value) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("webhook url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("webhook url {url:?}: only http and https"));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(parsed.clone())
        .json(body)
        .send()
        .await
        .map_err(|e| format!("webhook {}: {e}", redact(&parsed)))?;
    let status = resp.status();
    if status.is_success() {
        Ok(format!("webhook {} answered {status}", redact(&parsed)))
    } else {
        Err(format!("webhook {} answered {status}", redact(&parsed)))
    }
}

/// A URL without its query and credentials (they may hold tokens).
fn redact(u: &reqwest::Url) -> String {
    format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + u.path()
}
