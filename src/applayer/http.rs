//! STUB (replaced by the real parser)
#[derive(Debug, Clone)]
pub struct HttpConfig { pub request_body_limit: usize, pub response_body_limit: usize, pub decompress_layer_limit: u32, pub max_txs: usize }
impl Default for HttpConfig { fn default() -> Self { HttpConfig { request_body_limit: 102400, response_body_limit: 102400, decompress_layer_limit: 2, max_txs: 512 } } }
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Progress { #[default] None, Line, Headers, Body, Complete }
#[derive(Debug, Clone, Default)]
pub struct Header { pub name: Vec<u8>, pub value: Vec<u8> }
#[derive(Debug, Clone, Default)]
pub struct HttpTx { pub id: u64, pub request_line: Vec<u8>, pub method: Vec<u8>, pub uri_raw: Vec<u8>, pub uri_normalized: Vec<u8>, pub protocol: Vec<u8>, pub request_headers: Vec<Header>, pub request_headers_raw: Vec<u8>, pub request_body: Vec<u8>, pub request_message_len: u64, pub request_entity_len: u64, pub response_line: Vec<u8>, pub response_protocol: Vec<u8>, pub status_raw: Vec<u8>, pub status: Option<u16>, pub status_message: Vec<u8>, pub response_headers: Vec<Header>, pub response_headers_raw: Vec<u8>, pub response_body: Vec<u8>, pub response_message_len: u64, pub response_entity_len: u64, pub request_progress: Progress, pub response_progress: Progress, pub request_body_truncated: bool, pub response_body_truncated: bool, pub anomalies: Vec<&'static str> }
impl HttpTx { pub fn request_header(&self, _n: &[u8]) -> Option<Vec<u8>> { None } pub fn response_header(&self, _n: &[u8]) -> Option<Vec<u8>> { None } }
pub struct HttpParser { txs: Vec<HttpTx> }
impl HttpParser { pub fn new(_c: HttpConfig) -> Self { HttpParser { txs: Vec::new() } } pub fn feed_request(&mut self, _d: &[u8]) {} pub fn feed_response(&mut self, _d: &[u8]) {} pub fn close_request(&mut self) {} pub fn close_response(&mut self) {} pub fn txs(&self) -> &[HttpTx] { &self.txs } pub fn tx(&self, id: u64) -> Option<&HttpTx> { self.txs.iter().find(|t| t.id == id) } }
